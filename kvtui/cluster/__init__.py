"""The cluster domain: connections, kinds, cache, views and operations, free of any UI."""
