// A small SVG chart: energy charged (kWh, left axis) and power (kW, right axis) over time.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 640, H = 260, LEFT = 48, RIGHT = 48, TOP = 28, BOTTOM = 32;

function svg(tag, attributes = {}, text) {
  const element = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// series: { energy: [[Date, kWh]], power: [[Date, kW]] }; options: start (the time axis begins
// there), width (the box's width in px: one unit a pixel, so labels keep their size on a phone).
export function drawChart(series, { start = null, width = WIDTH } = {}) {
  const W = Math.max(300, Math.min(WIDTH * 2, width || WIDTH));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": "Energy and power over time" });
  const points = [...series.energy, ...series.power];
  if (!points.length) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "No meter values yet"));
    return root;
  }
  const t0 = start ? +start : Math.min(...points.map((p) => +p[0]));
  root.dataset.from = new Date(t0).toISOString(); // where the time axis begins
  const t1 = Math.max(t0 + 1000, ...points.map((p) => +p[0]));
  const maxEnergy = nice(Math.max(0.1, ...series.energy.map((p) => p[1])));
  const maxPower = nice(Math.max(0.1, ...series.power.map((p) => p[1])));
  const x = (t) => LEFT + ((+t - t0) / (t1 - t0)) * (W - LEFT - RIGHT);
  const y = (value, max) => TOP + (1 - value / max) * (H - TOP - BOTTOM);

  for (const fraction of [0, 0.5, 1]) {
    const at = y(fraction, 1);
    root.append(svg("line", { x1: LEFT, x2: W - RIGHT, y1: at, y2: at, class: "grid" }));
    root.append(svg("text", { x: LEFT - 6, y: at + 4, "text-anchor": "end", class: "axis energy" }, fmt(maxEnergy * fraction)));
    root.append(svg("text", { x: W - RIGHT + 6, y: at + 4, class: "axis power" }, fmt(maxPower * fraction)));
  }
  const label = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  root.append(svg("text", { x: LEFT, y: H - 10, class: "axis" }, label(t0)));
  root.append(svg("text", { x: W - RIGHT, y: H - 10, "text-anchor": "end", class: "axis" }, label(t1)));
  root.append(svg("text", { x: LEFT - 6, y: TOP - 14, "text-anchor": "end", class: "axis energy" }, "kWh"));
  root.append(svg("text", { x: W - RIGHT + 6, y: TOP - 14, class: "axis power" }, "kW"));

  const line = (data, max, cls) => {
    if (!data.length) return;
    root.append(svg("polyline", { class: `line ${cls}`,
      points: data.map(([t, v]) => `${x(t).toFixed(1)},${y(v, max).toFixed(1)}`).join(" ") }));
    for (const [t, v] of data.length <= 60 ? data : []) {
      root.append(svg("circle", { cx: x(t), cy: y(v, max), r: 2.5, class: `dot ${cls}` }));
    }
  };
  line(series.power, maxPower, "power");
  line(series.energy, maxEnergy, "energy");
  return root;
}

function nice(value) {
  const step = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * step).find((candidate) => candidate >= value);
}

function fmt(value) {
  return value >= 10 ? value.toFixed(0) : value.toFixed(1);
}

// Limits over time as steps on one axis: lines [{ cls, label, data: [[Date, value]] }], each value
// held until the next point; marks [{ at: Date, text }] flagged with a red line (e.g. a mismatch).
export function drawSteps({ lines, unit, marks = [] }) {
  const W = WIDTH;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart steps", role: "img",
    "aria-label": lines.map((l) => l.label).join(" and ") });
  const points = lines.flatMap((l) => l.data);
  if (!points.length) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "No schedule"));
    return root;
  }
  const t0 = Math.min(...points.map((p) => +p[0]));
  const t1 = Math.max(t0 + 1000, ...points.map((p) => +p[0]));
  const max = nice(Math.max(0.1, ...points.map((p) => p[1])) * 1.1);
  const x = (t) => LEFT + ((+t - t0) / (t1 - t0)) * (W - LEFT - RIGHT);
  const y = (value) => TOP + (1 - value / max) * (H - TOP - BOTTOM);
  for (const fraction of [0, 0.5, 1]) {
    root.append(svg("line", { x1: LEFT, x2: W - RIGHT, y1: y(max * fraction), y2: y(max * fraction), class: "grid" }));
    root.append(svg("text", { x: LEFT - 6, y: y(max * fraction) + 4, "text-anchor": "end", class: "axis" }, fmt(max * fraction)));
  }
  const label = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  root.append(svg("text", { x: LEFT, y: H - 10, class: "axis" }, label(t0)));
  root.append(svg("text", { x: W - RIGHT, y: H - 10, "text-anchor": "end", class: "axis" }, label(t1)));
  root.append(svg("text", { x: LEFT - 6, y: TOP - 14, "text-anchor": "end", class: "axis" }, unit));
  for (const line of lines) {
    const steps = line.data.flatMap(([t, v], i) => {
      const next = line.data[i + 1];
      return next ? [[t, v], [next[0], v]] : [[t, v]];
    });
    root.append(svg("polyline", { class: `line ${line.cls}`,
      points: steps.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
  }
  for (const mark of marks) {
    root.append(svg("line", { x1: x(mark.at), x2: x(mark.at), y1: TOP, y2: H - BOTTOM, class: "mark" }));
    root.append(svg("text", { x: x(mark.at) + 4, y: TOP + 12, class: "mark" }, mark.text));
  }
  return root;
}
