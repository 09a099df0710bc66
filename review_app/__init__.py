"""Streamlit human review of curated documents."""
