"""Figures for the Territories page: the ZIP point map, the state coverage choropleth, the contact
density layer. Plotly and pydeck objects only; the page shows them.

The ZIP map must stay light with ≈42k points: one trace per owner (the owner's name is the trace
name, not repeated per point), coordinates as float32 (sent as base64 binary arrays), one short
hover string per point and the contact count as an integer array.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import polars as pl

UNASSIGNED = "Unassigned"
SHARED = "Shared by several clients"
UNASSIGNED_COLOUR = "#a3a3a3"
SHARED_COLOUR = "#111111"
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
    "#9c9ede",
)


# The base maps as raster tiles under an inline MapLibre style, so the style itself never has to
# be fetched: when the tiles cannot load (no internet), the plain background and every point
# still draw. A named Carto style would be fetched first, and without it nothing draws at all.
BACKGROUND = "#f3f4f1"
_CARTO = "https://{s}.basemaps.cartocdn.com/{name}/{{z}}/{{x}}/{{y}}.png"
TILES = {
    "carto-positron": ("light_all", "© OpenStreetMap contributors © CARTO"),
    "carto-positron-nolabels": ("light_nolabels", "© OpenStreetMap contributors © CARTO"),
    "carto-voyager": ("rastertiles/voyager", "© OpenStreetMap contributors © CARTO"),
    "carto-darkmatter": ("dark_all", "© OpenStreetMap contributors © CARTO"),
    "open-street-map": (None, "© OpenStreetMap contributors"),
}
NO_TILES = (
    "The base map could not load (no internet connection?): the points are drawn on a plain "
    "background."
)


def tile_urls(style: str) -> list[str]:
    """The raster tile URLs of a base map setting ([] for 'white-bg' or an unknown name)."""
    if style not in TILES:
        return []
    name, _ = TILES[style]
    if name is None:
        return ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]
    return [_CARTO.format(s=s, name=name) for s in "abcd"]


def tile_notice_html(style: str) -> str | None:
    """A one-line notice that shows only when the browser cannot load the base map's tiles (it
    asks for one tile of the country view, the first the map needs), or None without tiles."""
    urls = tile_urls(style)
    if not urls:
        return None
    probe = urls[0].replace("{z}", "3").replace("{x}", "2").replace("{y}", "3")
    return (
        '<div id="notice" style="display:none;font-family:\'Source Sans Pro\',sans-serif;'
        'font-size:14px;color:#5c4a00;background:#fffbe6;border-radius:6px;padding:4px 10px">'
        f"{NO_TILES}</div>"
        f'<img alt="" src="{probe}" style="display:none" '
        "onerror=\"document.getElementById('notice').style.display='block'\">"
    )


def style_url(style: str) -> str:
    """The URL, relative to the page, of `base_style(style)` as a file the app serves (under
    static/map/; the 3-D density view needs its style as a URL, not inline)."""
    return f"app/static/map/{style if style in TILES else 'white-bg'}.json"


def base_style(style: str) -> dict:
    """An inline MapLibre style: a plain background, and the base map's tiles over it."""
    layers: list[dict] = [
        {"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}
    ]
    sources: dict = {}
    urls = tile_urls(style)
    if urls:
        sources["base"] = {
            "type": "raster",
            "tiles": urls,
            "tileSize": 256,
            "maxzoom": 19,
            "attribution": TILES[style][1],
        }
        layers.append({"id": "base", "type": "raster", "source": "base"})
    return {"version": 8, "sources": sources, "layers": layers}


def owner_colour(owner_id: int) -> str:
    """A stable colour per client (by id), so a client keeps its colour as filters change."""
    return PALETTE[(int(owner_id) - 1) % len(PALETTE)]


def _view(df: pl.DataFrame, width: int = 1000, height: int = 620) -> tuple[dict, float]:
    """Centre and zoom that fit most of the points (2nd to 98th percentile, so Alaska, Hawaii
    and the territories do not shrink a view of the mainland)."""
    if df.height == 0:
        return {"lat": 39.5, "lon": -98.35}, 3.0
    q = 0.02 if df.height > 200 else 0.0
    lat_min, lat_max = df["lat"].quantile(q), df["lat"].quantile(1 - q)
    lon_min, lon_max = df["lon"].quantile(q), df["lon"].quantile(1 - q)
    lon_span = max(lon_max - lon_min, 0.02)
    lat_span = max((lat_max - lat_min) / math.cos(math.radians((lat_min + lat_max) / 2)), 0.02)
    zoom = min(math.log2(width / 512 * 360 / lon_span), math.log2(height / 512 * 360 / lat_span))
    return {"lat": (lat_min + lat_max) / 2, "lon": (lon_min + lon_max) / 2}, max(
        1.0, min(12.0, zoom - 0.4)
    )


def zip_map(
    df: pl.DataFrame,
    *,
    style: str = "carto-positron",
    focus: tuple[float, float, float] | None = None,
    height: int = 620,
    revision: str = "territory-map",
) -> tuple[go.Figure, list[list[str]]]:
    """The ZIP point map of a `territory_geo.zip_table` frame, coloured by owner.

    Returns the figure and, per trace, the ZIPs in point order, so a box or lasso selection
    (curve number, point index) maps back to ZIP codes. The browser keeps the user's pan and
    zoom across reruns while `revision` stays the same; a new revision fits the view again.
    """
    data = df.with_columns(
        pl.when(pl.col("owners") > 1)
        .then(pl.lit(SHARED))
        .when(pl.col("owner_id").is_null())
        .then(pl.lit(UNASSIGNED))
        .otherwise(pl.col("owner"))
        .alias("group"),
        (
            pl.col("zip")
            + " "
            + pl.col("city").str.to_titlecase()
            + ", "
            + pl.col("county").fill_null("?")
            + ", "
            + pl.col("state")
            + pl.when(pl.col("owners") > 1)
            .then(pl.lit("<br>Owners: ") + pl.col("owner"))
            .otherwise(pl.lit(""))
        ).alias("label"),
    )
    fig = go.Figure()
    trace_zips: list[list[str]] = []
    groups = data.group_by("group", maintain_order=False).agg(pl.col("owner_id").min())
    order = sorted(
        groups.iter_rows(),
        key=lambda g: (g[0] != UNASSIGNED, g[0] == SHARED, g[0]),
    )  # unassigned drawn first (underneath), shared last
    for name, owner_id in order:
        part = data.filter(pl.col("group") == name)
        if name == UNASSIGNED:
            colour, size, opacity = UNASSIGNED_COLOUR, 5 if df.height > 5000 else 7, 0.6
        elif name == SHARED:
            colour, size, opacity = SHARED_COLOUR, 8, 0.9
        else:
            colour, size, opacity = owner_colour(owner_id), 8, 0.9
        owner_line = "" if name in (UNASSIGNED, SHARED) else f"<br>Owner: {_escape(name)}"
        if name == UNASSIGNED:
            owner_line = "<br>Owner: none"
        fig.add_trace(
            go.Scattermap(
                lat=part["lat"].to_numpy().astype(np.float32),
                lon=part["lon"].to_numpy().astype(np.float32),
                mode="markers",
                name=name,
                text=part["label"].to_list(),
                customdata=part["contacts"].to_numpy().astype(np.int32),
                marker={"size": size, "color": colour, "opacity": opacity},
                hovertemplate="<b>%{text}</b>"
                + owner_line
                + "<br>Contacts available: %{customdata:,}"
                "<extra></extra>",
            )
        )
        trace_zips.append(part["zip"].to_list())
    center, zoom = _view(df)
    if focus is not None:
        center, zoom = {"lat": focus[0], "lon": focus[1]}, focus[2]
    fig.update_layout(
        map={"style": base_style(style), "center": center, "zoom": zoom},
        dragmode="select",
        height=height,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.0,
            "x": 0,
            "itemsizing": "constant",
        },
        uirevision=revision,
    )
    return fig, trace_zips


def _escape(text: str) -> str:
    return (
        str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("%", "%%")
    )


def selected_zips(selection: dict | None, trace_zips: list[list[str]]) -> list[str]:
    """ZIP codes of a Streamlit plotly selection event (box or lasso), in map order."""
    points = ((selection or {}).get("selection") or {}).get("points") or []
    out: list[str] = []
    seen: set[str] = set()
    for p in points:
        curve = p.get("curve_number")
        idx = p.get("point_index", p.get("point_number"))
        if curve is None or idx is None or curve >= len(trace_zips):
            continue
        zips = trace_zips[curve]
        if 0 <= idx < len(zips) and zips[idx] not in seen:
            seen.add(zips[idx])
            out.append(zips[idx])
    return out


def coverage_choropleth(states: pl.DataFrame, *, title: str) -> go.Figure:
    """US states shaded by the share of their ZIPs assigned (frame from `state_coverage`)."""
    fig = go.Figure(
        go.Choropleth(
            locations=states["state"].to_list(),
            locationmode="USA-states",
            z=(states["share"] * 100).round(1).to_list(),
            text=[
                f"{s}: {a:,} of {t:,} ZIPs assigned"
                for s, a, t in states.select("state", "assigned", "total").iter_rows()
            ],
            hovertemplate="%{text}<br>%{z:.1f}%<extra></extra>",
            colorscale="Blues",
            zmin=0,
            colorbar={"title": "% assigned", "ticksuffix": "%"},
            marker_line_color="white",
        )
    )
    fig.update_layout(
        geo={"scope": "usa", "projection": {"type": "albers usa"}, "showlakes": False},
        title=title,
        height=440,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
    )
    return fig


def density_deck(points: pl.DataFrame, *, style: str, layer: str = "hexagon"):
    """A pydeck view of contacts available per ZIP (frame: lat, lon, contacts), as 3-D hexagons
    (binned over nearby ZIPs) or one column per ZIP."""
    import pydeck as pdk

    data = points.filter(pl.col("contacts") > 0).select("lat", "lon", "contacts").to_dicts()
    if layer == "hexagon":
        lyr = pdk.Layer(
            "HexagonLayer",
            data=data,
            get_position=["lon", "lat"],
            get_elevation_weight="contacts",
            get_color_weight="contacts",
            # the aggregations are left at deck.gl's default, SUM: pydeck would send "SUM" as an
            # expression (a function), and the layer then draws nothing
            radius=8000,
            elevation_scale=40,
            extruded=True,
            pickable=True,
            coverage=0.9,
            gpu_aggregation=False,  # binned on the CPU: a few hundred ZIPs need no GPU
        )
        tooltip = {"text": "{elevationValue} contacts available"}
    else:
        lyr = pdk.Layer(
            "ColumnLayer",
            data=data,
            get_position=["lon", "lat"],
            get_elevation="contacts",
            elevation_scale=60,
            radius=2500,
            get_fill_color=[30, 119, 180, 200],
            pickable=True,
            extruded=True,
        )
        tooltip = {"text": "{contacts} contacts available"}
    if data:
        lats = [d["lat"] for d in data]
        lons = [d["lon"] for d in data]
        view = pdk.ViewState(
            latitude=sum(lats) / len(lats), longitude=sum(lons) / len(lons), zoom=4, pitch=45
        )
    else:
        view = pdk.ViewState(latitude=39.5, longitude=-98.35, zoom=3, pitch=45)
    # the same style as the ZIP map, served by the app: the columns draw on a plain background
    # without tiles;
    # scrolling the page does not zoom (drag to pan, and the +/− of the browser's zoom still work)
    return pdk.Deck(
        layers=[lyr],
        initial_view_state=view,
        map_style=style_url(style),
        tooltip=tooltip,
        views=[pdk.View(type="MapView", controller={"scrollZoom": False, "dragRotate": True})],
    )


def zip_map_for(db, scope, flt, style: str, focus: tuple[float, float, float] | None = None):
    """The ZIP map for a filter: (figure, ZIPs per trace, number of ZIPs drawn). Cacheable."""
    from core.territories.geo import zip_table

    df = zip_table(db, scope, flt)
    fig, trace_zips = zip_map(df, style=style, focus=focus, revision=repr((flt, focus)))
    return fig, trace_zips, df.height
