"""The datacenter form on its own (no cluster): findings handed over while it redraws itself
are not lost and do not crash it."""

from __future__ import annotations

from textual.app import App, ComposeResult

from kvtui.cluster.findings import ERROR, Finding
from kvtui.ui.widgets.datacenter_form import DatacenterForm
from kvtui.ui.widgets.form_controls import FieldNotes

BLOCK = {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.0.0.300"]}}
BAD = Finding("dnsConfig.nameservers[0]", "'10.0.0.300' is not an IP address", ERROR)


class FormApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DatacenterForm(id="form")


def shown(form: DatacenterForm, path: str) -> str:
    [note] = [n for n in form.query(FieldNotes) if n.path_text == path]
    return str(note.render()) if note.display else ""


async def test_findings_given_mid_redraw_show_once_the_form_is_drawn() -> None:
    app = FormApp()
    async with app.run_test(size=(120, 60)) as pilot:
        form = app.query_one(DatacenterForm)
        await form.load(BLOCK)
        await form.remove_children()  # what a redraw looks like half way: no notes at all
        form.show_findings([BAD])  # a validation timer fires now: nothing to place it in
        assert not form.query(FieldNotes)
        await form.rebuild()
        await pilot.pause()
        assert "not an IP address" in shown(form, "dnsConfig.nameservers[0]")
        assert shown(form, "dnsPolicy") == ""

        form.show_findings([])  # fixed: the note goes away
        assert shown(form, "dnsConfig.nameservers[0]") == ""
