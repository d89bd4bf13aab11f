"""The Textual face of kvtui: app, screens and widgets; it never speaks HTTP."""
