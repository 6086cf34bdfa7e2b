// Hits-over-time histogram (SVG) from `| histogram(STEP)` buckets; drag across it to zoom into
// that time range. The step is picked so a range shows about 60 bars.

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 90;
const AXIS = 16;
const STEPS = [
  ["1s", 1e3], ["2s", 2e3], ["5s", 5e3], ["10s", 1e4], ["30s", 3e4], ["1m", 6e4], ["2m", 12e4], ["5m", 3e5],
  ["10m", 6e5], ["30m", 18e5], ["1h", 36e5], ["3h", 108e5], ["6h", 216e5], ["12h", 432e5], ["1d", 864e5],
];

export function stepFor(range) {
  const want = (range.end - range.start) / 60;
  return STEPS.find(([, ms]) => ms >= want) ?? STEPS[STEPS.length - 1];
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function tickLabel(ms, spanMs) {
  const d = new Date(ms);
  const hm = d.toTimeString().slice(0, spanMs < 120000 ? 8 : 5);
  return spanMs > 2 * 86400000 ? `${d.getMonth() + 1}/${d.getDate()} ${hm}` : hm;
}

export class Histogram {
  constructor(container, onZoom) {
    this.container = container;
    this.onZoom = onZoom;
    this.data = null;
    this.root = svg("svg", { class: "histogram", height: HEIGHT, role: "img", "aria-label": "hits over time" });
    container.replaceChildren(this.root);
    this.drag = null;
    this.root.addEventListener("pointerdown", (e) => this.start(e));
    this.root.addEventListener("pointermove", (e) => this.move(e));
    this.root.addEventListener("pointerup", (e) => this.end(e));
    this.root.addEventListener("pointercancel", () => this.cancel());
    new ResizeObserver(() => this.data && this.render(...this.data)).observe(container);
  }

  clear() {
    this.data = null;
    this.root.replaceChildren();
  }

  width() {
    return Math.max(100, this.container.clientWidth);
  }

  // buckets: [{_time, count}] oldest first (empty ones left out); range: {start, end} ms.
  render(buckets, range, stepMs) {
    this.data = [buckets, range, stepMs];
    const w = this.width();
    const plotH = HEIGHT - AXIS;
    const span = range.end - range.start;
    const max = Math.max(1, ...buckets.map((b) => b.count));
    this.root.setAttribute("width", w);
    this.root.setAttribute("viewBox", `0 0 ${w} ${HEIGHT}`);
    this.root.replaceChildren();
    const x = (t) => ((t - range.start) / span) * w;
    const barW = Math.max(1, (stepMs / span) * w - 1);
    for (const b of buckets) {
      const t = Date.parse(b._time);
      const h = Math.max(1, (b.count / max) * (plotH - 4));
      const rect = svg("rect", { class: "bar", x: x(t).toFixed(1), y: (plotH - h).toFixed(1),
        width: barW.toFixed(1), height: h.toFixed(1) });
      const title = svg("title");
      title.textContent = `${new Date(t).toLocaleString()}: ${b.count.toLocaleString("en-US")}`;
      rect.append(title);
      this.root.append(rect);
    }
    this.root.append(svg("line", { class: "axis", x1: 0, x2: w, y1: plotH + 0.5, y2: plotH + 0.5 }));
    const ticks = Math.max(2, Math.floor(w / 120));
    for (let i = 0; i <= ticks; i++) {
      const t = range.start + (span * i) / ticks;
      const text = svg("text", { class: "tick", x: x(t), y: HEIGHT - 3,
        "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" });
      text.textContent = tickLabel(t, span);
      this.root.append(text);
    }
    this.sel = svg("rect", { class: "selection", x: 0, y: 0, width: 0, height: plotH, visibility: "hidden" });
    this.root.append(this.sel);
  }

  at(e) {
    const box = this.root.getBoundingClientRect();
    return Math.min(box.width, Math.max(0, e.clientX - box.left));
  }

  start(e) {
    if (!this.data || e.button !== 0) return;
    this.drag = { x0: this.at(e) };
    this.root.setPointerCapture(e.pointerId);
  }

  move(e) {
    if (!this.drag) return;
    const x1 = this.at(e);
    const a = Math.min(this.drag.x0, x1);
    this.sel.setAttribute("x", a);
    this.sel.setAttribute("width", Math.abs(x1 - this.drag.x0));
    this.sel.setAttribute("visibility", "visible");
  }

  end(e) {
    if (!this.drag) return;
    const x1 = this.at(e);
    const { x0 } = this.drag;
    this.cancel();
    if (Math.abs(x1 - x0) < 4) return;
    const [, range] = this.data;
    const w = this.root.getBoundingClientRect().width;
    const t = (px) => range.start + (px / w) * (range.end - range.start);
    this.onZoom(Math.floor(t(Math.min(x0, x1))), Math.ceil(t(Math.max(x0, x1))));
  }

  cancel() {
    this.drag = null;
    if (this.sel) this.sel.setAttribute("visibility", "hidden");
  }
}
