"""Presentation helpers shared by pages: figure builders (plotly, pydeck) and UI components."""
