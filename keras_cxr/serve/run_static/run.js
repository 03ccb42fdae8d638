// The run viewer: pages of rows from v1/run/rows, one case at a time, flags saved by PUT.
// URLs are relative, so the page works at / (keras-cxr view) and at /run/ (serve --run).
"use strict";

const PAGE_ROWS = 100;
const state = {
  sort: null, order: "asc", filter: "all", search: "", offset: 0,
  matched: 0, rows: [], selected: -1, columns: [], caseRow: null,
};
const $ = (id) => document.getElementById(id);

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

function formatted(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3);
  return String(value);
}

function shownColumns(all) {
  const first = ["name", "label", "predicted", "probability", "outcome"];
  const shares = all.filter((c) => c.endsWith("/lung_share") || c.endsWith("/central_share"));
  return first.filter((c) => all.includes(c)).concat(shares);
}

function buildHeader() {
  const row = $("header-row");
  row.replaceChildren();
  for (const column of state.columns) {
    const cell = document.createElement("th");
    cell.textContent = column;
    cell.dataset.column = column;
    if (state.sort === column) cell.classList.add(`sorted-${state.order}`);
    cell.addEventListener("click", () => sortBy(column));
    row.appendChild(cell);
  }
}

function sortBy(column) {
  if (state.sort === column) state.order = state.order === "asc" ? "desc" : "asc";
  else { state.sort = column; state.order = column === "probability" ? "desc" : "asc"; }
  state.offset = 0;
  buildHeader();
  loadRows(0);
}

async function loadRows(select) {
  const query = new URLSearchParams({
    order: state.order, filter: state.filter, q: state.search,
    offset: state.offset, limit: PAGE_ROWS,
  });
  if (state.sort) query.set("sort", state.sort);
  const page = await api(`v1/run/rows?${query}`);
  state.rows = page.rows;
  state.matched = page.matched;
  renderRows();
  const last = Math.min(state.offset + PAGE_ROWS, page.matched);
  $("page-info").textContent = page.matched
    ? `${state.offset + 1}–${last} of ${page.matched} (run: ${page.total})`
    : `no rows match (run: ${page.total})`;
  if (select !== undefined && state.rows.length) selectRow(Math.min(select, state.rows.length - 1));
  else state.selected = -1;
  $("rows").dataset.loaded = query.toString(); // what the rows on show answer (for tests)
}

function renderRows() {
  const body = $("body");
  const fragment = document.createDocumentFragment();
  state.rows.forEach((row, position) => {
    const line = document.createElement("tr");
    line.dataset.index = row.index;
    if (row.flagged) line.classList.add("flagged");
    for (const column of state.columns) {
      const cell = document.createElement("td");
      const value = row[column];
      cell.textContent = formatted(value);
      if (typeof value === "number") cell.classList.add("number");
      if (column === "outcome" && value) cell.classList.add(`outcome-${value}`);
      line.appendChild(cell);
    }
    line.addEventListener("click", () => selectRow(position));
    fragment.appendChild(line);
  });
  body.replaceChildren(fragment);
}

function selectRow(position) {
  const lines = $("body").children;
  if (state.selected >= 0 && lines[state.selected]) lines[state.selected].classList.remove("selected");
  state.selected = position;
  const line = lines[position];
  line.classList.add("selected");
  line.scrollIntoView({ block: "nearest" });
  openCase(state.rows[position].index);
}

async function move(step) {
  const next = state.selected + step;
  if (next >= 0 && next < state.rows.length) return selectRow(next);
  const offset = state.offset + (step > 0 ? PAGE_ROWS : -PAGE_ROWS);
  if (offset < 0 || offset >= state.matched) return;
  state.offset = offset;
  await loadRows(step > 0 ? 0 : PAGE_ROWS - 1);
}

async function openCase(index) {
  const row = await api(`v1/run/cases/${index}`);
  state.caseRow = row;
  $("case").hidden = false;
  $("case-name").textContent = row.name;
  const label = row.label ? `label ${row.label}` : "no label";
  $("case-verdict").textContent =
    `p = ${formatted(row.probability)} → ${row.predicted} (${label}${row.outcome ? ", " + row.outcome : ""})`;
  const image = $("case-image");
  image.onerror = () => { image.onerror = null; if (row.has_overlay) image.src = `v1/run/cases/${index}/overlay.png`; };
  image.src = `v1/run/cases/${index}/image.png`;
  const select = $("map-select");
  const previous = select.value;
  select.replaceChildren();
  const choices = row.maps.map((key) => [key, key === "heatmap" ? "fused" : key.slice(8)]);
  if (row.has_overlay) choices.push(["overlay", "stored overlay"]);
  for (const [value, text] of choices) select.add(new Option(text, value));
  if (choices.some(([value]) => value === previous)) select.value = previous;
  showMap();
  $("flag-toggle").checked = row.flagged;
  $("note").value = row.note;
  $("case-status").textContent = "";
  const stats = $("case-stats");
  stats.replaceChildren();
  for (const [key, value] of Object.entries(row)) {
    if (!key.includes("/")) continue;
    const line = stats.insertRow();
    line.insertCell().textContent = key;
    const cell = line.insertCell();
    cell.textContent = formatted(value);
    cell.classList.add("number");
  }
}

function showMap() {
  const row = state.caseRow;
  const heat = $("case-heat");
  const key = $("map-select").value;
  heat.hidden = !key;
  if (!key) return;
  heat.src = key === "overlay"
    ? `v1/run/cases/${row.index}/overlay.png`
    : `v1/run/cases/${row.index}/heatmap.png?key=${encodeURIComponent(key)}`;
}

async function saveFlag(change) {
  const row = state.caseRow;
  if (!row) return;
  const entry = await api(`v1/run/cases/${row.index}/flag`, {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(change),
  });
  row.flagged = entry.flagged;
  row.note = entry.note;
  $("flag-toggle").checked = entry.flagged;
  $("case-status").textContent = entry.flagged ? "Flagged; saved." : "Saved.";
  const shown = state.rows.find((r) => r.index === row.index);
  if (shown) shown.flagged = entry.flagged;
  const line = $("body").querySelector(`tr[data-index="${row.index}"]`);
  if (line) line.classList.toggle("flagged", entry.flagged);
}

function setOpacity() {
  const value = $("opacity").value;
  $("case-heat").style.opacity = String(value / 100);
  $("opacity-value").textContent = `${value} %`;
}

const SVG = "http://www.w3.org/2000/svg";

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function figure(title, width, height) {
  const box = document.createElement("div");
  box.className = "histogram";
  const heading = document.createElement("h3");
  heading.textContent = title;
  const svg = svgElement("svg", { width, height });
  box.append(heading, svg);
  $("histograms").appendChild(box);
  return svg;
}

function drawHistogram(label, counts, threshold) {
  const width = 240, height = 90;
  const total = counts.reduce((a, b) => a + b, 0);
  const svg = figure(`p(${label || "unlabelled"}), ${total} rows`, width, height);
  const top = Math.max(1, ...counts), bar = width / counts.length;
  counts.forEach((count, i) => {
    const h = (count / top) * (height - 4);
    svg.appendChild(svgElement("rect", { x: i * bar + 1, width: bar - 2, y: height - h, height: h }));
  });
  const x = threshold * width;
  svg.appendChild(svgElement("line", { x1: x, x2: x, y1: 0, y2: height }));
}

function drawCalibration(calibration) {
  const size = 120, pad = 7, span = size - 2 * pad; // dots at 0 and 1 drawn whole
  const svg = figure("calibration (labelled rows)", size, size);
  svg.classList.add("calibration");
  svg.appendChild(svgElement("line", { x1: pad, y1: size - pad, x2: size - pad, y2: pad }));
  calibration.count.forEach((count, i) => {
    if (!count) return;
    const cx = pad + calibration.mean_probability[i] * span;
    const cy = pad + (1 - calibration.positive_rate[i]) * span;
    svg.appendChild(svgElement("circle", { cx, cy, r: 2 + Math.min(4, Math.sqrt(count)) }));
  });
}

function drawPeaks(peaks) {
  if (!peaks.length) return;
  const size = 120, cell = size / peaks.length;
  const svg = figure("where the fused maps peak", size, size);
  svg.classList.add("peaks");
  const top = Math.max(1, ...peaks.flat());
  peaks.forEach((line, r) => line.forEach((count, c) => {
    const rect = svgElement("rect", { x: c * cell, y: r * cell, width: cell, height: cell });
    rect.style.opacity = String(count / top);
    svg.appendChild(rect);
  }));
}

async function loadSummary() {
  const summary = await api("v1/run/summary");
  $("histograms").replaceChildren();
  for (const [label, counts] of Object.entries(summary.histograms)) {
    drawHistogram(label, counts, summary.threshold);
  }
  drawCalibration(summary.calibration);
  drawPeaks(summary.peaks);
  const table = $("confusion");
  table.replaceChildren();
  for (const [outcome, count] of Object.entries(summary.confusion)) {
    const line = table.insertRow();
    line.insertCell().textContent = outcome || "unlabelled";
    const cell = line.insertCell();
    cell.textContent = count;
    cell.classList.add("number");
  }
}

let searchTimer = null;
function wire() {
  $("filter").addEventListener("change", (e) => { state.filter = e.target.value; state.offset = 0; loadRows(); });
  $("search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.search = e.target.value; state.offset = 0; loadRows(); }, 200);
  });
  $("prev-page").addEventListener("click", () => { if (state.offset > 0) { state.offset -= PAGE_ROWS; loadRows(); } });
  $("next-page").addEventListener("click", () => {
    if (state.offset + PAGE_ROWS < state.matched) { state.offset += PAGE_ROWS; loadRows(); }
  });
  $("map-select").addEventListener("change", showMap);
  $("opacity").addEventListener("input", setOpacity);
  $("flag-toggle").addEventListener("change", (e) => saveFlag({ flagged: e.target.checked }));
  $("save-note").addEventListener("click", () => saveFlag({ note: $("note").value }));
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && (target.type === "text" || target.type === "search"));
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    // Arrows belong to a focused slider or checkbox; j, k and f work everywhere else.
    const arrows = target.tagName !== "INPUT";
    if (event.key === "j" || (arrows && event.key === "ArrowDown")) { event.preventDefault(); move(1); }
    else if (event.key === "k" || (arrows && event.key === "ArrowUp")) { event.preventDefault(); move(-1); }
    else if (event.key === "f" && state.caseRow) { saveFlag({ flagged: !state.caseRow.flagged }); }
  });
}

async function start() {
  wire();
  const run = await api("v1/run");
  const manifest = run.manifest;
  $("run-summary").textContent =
    `${run.run_dir}: ${run.rows} rows · model ${manifest.model_name || "?"} · ` +
    `${manifest.method || "?"} · threshold ${formatted(manifest.threshold)}`;
  state.columns = shownColumns(run.columns);
  buildHeader();
  await loadRows();
  await loadSummary();
}

start().catch((error) => { $("run-summary").textContent = `Error: ${error.message}`; });
