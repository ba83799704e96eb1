"""One view-model per screen: what a page shows and what its buttons do, as plain Python.

A page builds its screen from the runtime (`ConnectScreen(ui.runtime())`), reads widgets, calls the screen and
renders what comes back; everything here runs and is tested without Streamlit.
"""
