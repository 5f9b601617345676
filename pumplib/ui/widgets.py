"""ipywidgets front end (JupyterLab, Voila) over :class:`pumplib.ui.Selection`.

Each selector reads and writes one shared selection, both ways: changing a
widget updates the selection; changing the selection (from code, another
widget or a drill-down) updates the widgets.

* :class:`AssetSelector`: the asset tree (utility → station → pump) as a
  multi-select grouped by station, one button per station, a search box and
  filters by pump type and tag;
* :class:`TimeSelector`: presets (last day, week, month, year, all), a custom
  range, the level (``auto`` or fixed), drill-down around a time and back;
* :class:`FeatureSelector`: catalog search, multi-select, the description and
  unit of the features picked;
* :class:`SelectionPanel`: the three plus a chart that redraws on each change.

Examples
--------
>>> from pumplib.ui import Selection, SelectionPanel       # doctest: +SKIP
>>> sel = Selection(features=["energy"])                   # doctest: +SKIP
>>> SelectionPanel(sel)                                    # doctest: +SKIP
"""

from __future__ import annotations

import abc
import contextlib
import html

import ipywidgets as w
import pandas as pd

from ..errors import PumplibError
from .selection import PRESETS, Selection

__all__ = ["AssetSelector", "FeatureSelector", "SelectionPanel", "TimeSelector"]

_PRESET_LABELS = {"last_day": "Last day", "last_week": "Last week", "last_month": "Last month",
                  "last_year": "Last year", "all": "All"}


class _Synced(abc.ABC):
    """Guard against echo loops between widgets and the selection.

    Subclasses build ``self.widget`` and implement :meth:`refresh`.
    """

    def __init__(self, selection: Selection):
        self.selection = selection
        self._busy = False
        self._unobserve = selection.observe(self._from_selection)

    @contextlib.contextmanager
    def _guard(self):
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def _from_selection(self, changes, selection) -> None:
        if self._busy:
            return
        with self._guard():
            self.refresh(changes)

    @abc.abstractmethod
    def refresh(self, changes=None) -> None:
        """Show the selection's state in the widgets (``changes``: what changed)."""

    def close(self) -> None:
        self._unobserve()
        self.widget.close()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


class AssetSelector(_Synced):
    """Asset tree (utility → station → pump) with search, multi-select and filters."""

    def __init__(self, selection: Selection, *, kind: str | None = "pump", rows: int = 8):
        super().__init__(selection)
        self.kind = kind
        tree = selection.asset_tree(kind=kind)
        self.utility = next(iter(tree))
        self.search = w.Text(placeholder="search pumps, stations, tags…", description="Search")
        self.pump_type = w.Dropdown(options=[("any type", None)] + [
            (t.replace("_", " "), t) for t in selection.pump_types()], description="Type")
        self.tag = w.Dropdown(options=[("any tag", None)] + [(t, t) for t in
                                                             selection.asset_tags()],
                              description="Tag")
        self.select = w.SelectMultiple(options=[], rows=rows, description="Assets",
                                       layout=w.Layout(width="420px"))
        self.station_buttons = [w.Button(description=st, tooltip=f"select every asset of {st}",
                                         layout=w.Layout(width="auto"))
                                for st in tree[self.utility]]
        for b in self.station_buttons:
            b.on_click(self._pick_station)
        self.clear = w.Button(description="clear", layout=w.Layout(width="auto"))
        self.clear.on_click(lambda _b: self.selection.set(assets=()))
        for wd in (self.search, self.pump_type, self.tag):
            wd.observe(self._filter_changed, names="value")
        self.select.observe(self._picked, names="value")
        self.widget = w.VBox([
            w.HTML(f"<b>{html.escape(self.utility)}</b>"),
            w.HBox([self.search]), w.HBox([self.pump_type, self.tag]),
            w.HBox(self.station_buttons + [self.clear]), self.select])
        self._filter_changed()

    def _options(self) -> list[tuple[str, str]]:
        ids = self.selection.search_assets(self.search.value, pump_type=self.pump_type.value,
                                           tag=self.tag.value, kind=self.kind)
        ids = sorted(set(ids) | set(self.selection.assets),
                     key=list(self.selection.registry.assets).index)
        reg = self.selection.registry
        out = []
        for i in ids:
            a = reg.assets[i]
            kind = a.pump_type.replace("_", " ") if a.pump_type else a.kind
            out.append((f"{a.station} › {a.id} — {a.name} ({kind})", a.id))
        return out

    def _filter_changed(self, _change=None) -> None:
        with self._guard():
            self.select.options = self._options()
            self.select.value = tuple(a for a in self.selection.assets
                                      if a in dict(self.select.options).values())

    def _picked(self, change) -> None:
        if self._busy:
            return
        with self._guard():
            self.selection.set(assets=tuple(change["new"]))

    def _pick_station(self, button) -> None:
        ids = [a for a in self.selection.search_assets(station=button.description,
                                                       kind=self.kind)]
        self.selection.set(assets=tuple(dict.fromkeys([*self.selection.assets, *ids])))

    def refresh(self, changes=None) -> None:
        if changes is None or "assets" in changes:
            self.select.options = self._options()
            self.select.value = tuple(self.selection.assets)


class TimeSelector(_Synced):
    """Presets, custom range, level, drill-down and back."""

    def __init__(self, selection: Selection):
        super().__init__(selection)
        from ..query import LEVELS

        self.presets = w.ToggleButtons(options=[(v, k) for k, v in _PRESET_LABELS.items()
                                                if k in PRESETS], value=None,
                                       description="Range", style={"button_width": "80px"})
        self.start = w.DatePicker(description="From")
        self.end = w.DatePicker(description="To")
        self.level = w.Dropdown(options=["auto", *LEVELS], value=selection.level,
                                description="Level")
        self.effective = w.HTML()
        self.point = w.Text(placeholder="2026-03-20 14:05", description="Zoom at")
        self.zoom = w.Button(description="drill down", icon="search-plus")
        self.back = w.Button(description="back", icon="undo")
        self.message = w.HTML()
        self.presets.observe(self._preset, names="value")
        self.start.observe(self._range, names="value")
        self.end.observe(self._range, names="value")
        self.level.observe(lambda c: self._apply(level=c["new"]), names="value")
        self.zoom.on_click(self._drill)
        self.back.on_click(lambda _b: self.selection.back())
        self.widget = w.VBox([self.presets, w.HBox([self.start, self.end]),
                              w.HBox([self.level, self.effective]),
                              w.HBox([self.point, self.zoom, self.back]), self.message])
        with self._guard():
            self.refresh()

    def _apply(self, **values) -> None:
        if self._busy:
            return
        try:
            with self._guard():
                self.selection.set(**values)
            self.message.value = ""
        except PumplibError as exc:
            self.message.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
        with self._guard():
            self.refresh()

    def _preset(self, change) -> None:
        if self._busy or change["new"] is None:
            return
        with self._guard():
            self.selection.preset(change["new"])
            self.refresh()

    def _range(self, _change) -> None:
        if self._busy or self.start.value is None or self.end.value is None:
            return
        self._apply(start=pd.Timestamp(self.start.value),
                    end=pd.Timestamp(self.end.value) + pd.Timedelta("1D"))

    def _drill(self, _b) -> None:
        try:
            with self._guard():
                self.selection.drill_down(self.point.value)
            self.message.value = ""
        except (PumplibError, ValueError) as exc:
            self.message.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
        with self._guard():
            self.refresh()

    def refresh(self, changes=None) -> None:
        s = self.selection
        self.start.value = None if s.start is None else s.start.date()
        self.end.value = None if s.end is None else (s.end - pd.Timedelta("1ns")).date()
        self.level.value = s.level
        self.effective.value = f"&nbsp;showing <b>{s.effective_level()}</b>"
        if changes and ("start" in changes or "end" in changes) and self.presets.value:
            self.presets.value = None


class FeatureSelector(_Synced):
    """Catalog search, multi-select, description and unit of the picked features."""

    def __init__(self, selection: Selection, *, rows: int = 8):
        super().__init__(selection)
        self.search = w.Text(placeholder="search features (energy, efficiency…)",
                             description="Search")
        self.select = w.SelectMultiple(options=[], rows=rows, description="Features",
                                       layout=w.Layout(width="420px"))
        self.info = w.HTML()
        self.search.observe(lambda _c: self._filter(), names="value")
        self.select.observe(self._picked, names="value")
        self.widget = w.VBox([self.search, self.select, self.info])
        self._filter()

    def _filter(self) -> None:
        ft = self.selection.search_features(self.search.value)
        names = list(dict.fromkeys([*ft.index, *self.selection.features]))
        table = self.selection.feature_table()
        with self._guard():
            self.select.options = [(f"{n} [{table.loc[n, 'unit']}]" if n in table.index
                                    else n, n) for n in names]
            self.select.value = tuple(self.selection.features)
        self._describe()

    def _picked(self, change) -> None:
        if self._busy:
            return
        with self._guard():
            self.selection.set(features=tuple(change["new"]))
        self._describe()

    def _describe(self) -> None:
        rows = []
        for f in self.selection.features:
            with contextlib.suppress(PumplibError):
                rows.append(html.escape(self.selection.describe_feature(f)))
        self.info.value = "<br>".join(rows)

    def refresh(self, changes=None) -> None:
        if changes is None or "features" in changes:
            self._filter()


class SelectionPanel:
    """Assets, time and features side by side, and a chart redrawn on every change."""

    def __init__(self, selection: Selection | None = None, *, chart: bool = True, **kwargs):
        self.selection = selection if selection is not None else Selection(**kwargs)
        self.assets = AssetSelector(self.selection)
        self.time = TimeSelector(self.selection)
        self.features = FeatureSelector(self.selection)
        self.output = w.Output()
        self.status = w.HTML()
        self.chart = None
        self.widget = w.VBox([w.HBox([self.assets.widget, self.features.widget]),
                              self.time.widget, self.status, self.output])
        if chart:
            self.selection.observe(lambda changes, s: self.redraw())
            self.redraw()

    def redraw(self):
        """Query the selection and draw it; returns the chart (None if nothing to draw)."""
        from .charts import line_chart

        s = self.selection
        if not s.features:
            self.status.value = "<i>pick a feature</i>"
            return None
        try:
            ds = s.query()
            self.chart = line_chart(ds)
        except PumplibError as exc:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return None
        self.status.value = (f"{len(ds['asset'])} assets · {len(ds['time'])} periods at "
                             f"<b>{ds.attrs.get('level')}</b>")
        self.output.clear_output(wait=True)
        with self.output:
            from IPython.display import display

            display(self.chart)
        return self.chart

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
