"""A grouped picker widget for the ipywidgets dashboard (anywidget, no network).

An ipywidgets ``Dropdown`` sends the *position* of the chosen entry; when the
list is replaced while a person chooses (a drill-down redraws the alerts), the
position lands on another alert, or on none. :class:`GroupedPicker` sends the
chosen item's id instead, and shows the entries in real groups (``<optgroup>``:
"N-P3 · high (2)"), so every alert is its own entry and the groups are visible.
Its script is a few lines inline in the widget (no CDN).
"""

from __future__ import annotations

import anywidget
import traitlets

_ESM = """
function render({ model, el }) {
  const wrap = document.createElement("label");
  wrap.className = "pumplib-picker";
  wrap.style.cssText = "display:flex;align-items:center;gap:8px;width:100%;font-size:13px";
  const text = document.createElement("span");
  text.style.cssText = "white-space:nowrap;min-width:90px;text-align:right";
  const sel = document.createElement("select");
  sel.style.cssText = "flex:1;min-width:0;padding:3px;font-size:13px";
  const draw = () => {
    text.textContent = model.get("description");
    sel.innerHTML = "";
    const none = document.createElement("option");
    none.value = "";
    none.textContent = model.get("placeholder");
    sel.appendChild(none);
    for (const g of model.get("groups")) {
      const og = document.createElement("optgroup");
      og.label = g.label;
      for (const [label, value] of g.options) {
        const o = document.createElement("option");
        o.value = value;
        o.textContent = label;
        og.appendChild(o);
      }
      sel.appendChild(og);
    }
    sel.value = model.get("value") || "";
    sel.disabled = model.get("disabled");
  };
  draw();
  model.on("change:groups", draw);
  model.on("change:description", draw);
  model.on("change:value", () => { sel.value = model.get("value") || ""; });
  model.on("change:disabled", () => { sel.disabled = model.get("disabled"); });
  sel.addEventListener("change", () => {
    model.set("value", sel.value === "" ? null : sel.value);
    model.save_changes();
  });
  wrap.appendChild(text);
  wrap.appendChild(sel);
  el.appendChild(wrap);
}
export default { render };
"""


class GroupedPicker(anywidget.AnyWidget):
    """A select of ``groups`` (``[{"label": …, "options": [[label, id], …]}, …]``) whose
    ``value`` is the chosen id (None for none). The id is taken as sent, also one of a
    list that was replaced meanwhile: the owner decides what it means.

    Examples
    --------
    >>> p = GroupedPicker(groups=[{"label": "N-P3 · high (1)", "options": [["a", "id-a"]]}])
    >>> p.options, p.value
    ([('a', 'id-a')], None)
    >>> p.value = "id-a"
    """

    _esm = _ESM
    groups = traitlets.List().tag(sync=True)
    value = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("-- choose --").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)

    @property
    def options(self) -> list[tuple[str, str]]:
        """Every entry as ``(label, id)``, in order."""
        return [(str(lb), str(v)) for g in self.groups for lb, v in g["options"]]
