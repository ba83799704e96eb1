"""ImageGecko Studio: the entry point. Page config, the cached runtime (job log + embedded worker), the sign-in
gate, navigation."""

import streamlit as st

from lib import ui

st.set_page_config(page_title="ImageGecko Studio", page_icon=":material/photo_camera:", layout="wide")
ui.forget_gone_widgets()  # widgets earlier runs drew and this session no longer shows (why: lib/ui.py)

rt = ui.runtime()  # builds settings, the job log and the embedded worker once per process
who = ui.gate(rt)  # signed in and allowed, or the run stops here with a sign-in form or a refusal

pages = [
    st.Page(ui.PAGES["connect"], title="Connect", icon=":material/link:", url_path="connect"),
    st.Page(ui.PAGES["products"], title="Products", icon=":material/inventory_2:", url_path="products", default=True),
    st.Page(ui.PAGES["generate"], title="Generate", icon=":material/auto_awesome:", url_path="generate"),
    st.Page(ui.PAGES["gallery"], title="Gallery", icon=":material/photo_library:", url_path="gallery"),
    st.Page(ui.PAGES["jobs"], title="Jobs", icon=":material/history:", url_path="jobs"),
]
page = st.navigation(pages, position="sidebar")
with st.sidebar:
    st.markdown("### :material/photo_camera: ImageGecko Studio")
ui.who_badge(rt, who)
ui.sidebar(rt)
page.run()
