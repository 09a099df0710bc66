"""The app's pages for `st.navigation`, built in one place so a page can link to another by its object."""

from __future__ import annotations

import streamlit as st

from msm.review_app import admin_page, browse_page, progress_page, queue_page


def pages_for(role: str) -> list[st.Page]:
    pages = [queue_page.page(), st.Page(browse_page.render, title="Browse", url_path="browse"),
             st.Page(progress_page.render, title="Progress", url_path="progress")]
    if role == "admin":
        pages += [st.Page(admin_page.render_agreement, title="Agreement", url_path="agreement"),
                  st.Page(admin_page.render_admin, title="Admin", url_path="admin")]
    return pages
