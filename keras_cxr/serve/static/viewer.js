// The keras_cxr viewer: send one image to POST /v1/explain and show what comes back.
// Plain browser JavaScript, no build step and nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const png = (base64) => `data:image/png;base64,${base64}`;
let model = null;

function formatProbability(value) {
  return value.toFixed(3);
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function loadModel() {
  try {
    const response = await fetch("/v1/model");
    model = await response.json();
  } catch (error) {
    $("model-summary").textContent = `The server does not answer: ${error}`;
    return;
  }
  const [height, width] = model.input_size;
  $("model-summary").textContent =
    `${model.model}: ${model.backbones.join(" + ")}, ${width}×${height} input, ` +
    `classes ${model.classes.join(" / ")}, threshold ${formatProbability(model.threshold)}` +
    ` · keras_cxr ${model.keras_cxr_version}`;
  const toggle = $("uncertainty-toggle");
  toggle.disabled = !model.uncertainty.available;
  toggle.parentElement.title = model.uncertainty.available
    ? `${model.uncertainty.samples} dropout samples`
    : `Not available: ${model.uncertainty.reason}`;
}

async function explain(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  // The viewer blends the colour maps itself, at the slider's opacity.
  const query = "?images=colormaps" + ($("uncertainty-toggle").checked ? "&uncertainty=true" : "");
  setStatus(`Explaining ${file.name}…`);
  $("result").setAttribute("aria-busy", "true");
  let response;
  try {
    response = await fetch(`/v1/explain${query}`, { method: "POST", body: form });
  } catch (error) {
    setStatus(`The server does not answer: ${error}`, true);
    return;
  }
  const answer = await response.json();
  if (!response.ok) {
    setStatus(`${file.name}: ${answer.detail} (HTTP ${response.status})`, true);
    return;
  }
  show(answer, file.name);
}

function show(answer, name) {
  $("base-image").src = png(answer.image.png);
  $("heat-image").src = png(answer.heatmaps.fused.colormap_png);
  $("decision-label").textContent = answer.decision.label;
  $("decision-label").classList.toggle("positive", answer.decision.positive);
  $("probability").textContent =
    formatProbability(answer.probability) + (answer.calibrated ? " (calibrated)" : "");
  $("threshold").textContent = formatProbability(answer.threshold);
  $("probability-bar").style.width = `${(100 * answer.probability).toFixed(1)}%`;
  $("probability-bar").classList.toggle("positive", answer.decision.positive);
  $("threshold-mark").style.left = `${(100 * answer.threshold).toFixed(1)}%`;
  $("uncertainty").textContent = describeUncertainty(answer.uncertainty);
  $("method").textContent = `${answer.method} on ${answer.target_layers.join(", ")}`;
  $("timing").textContent =
    `${answer.timings_ms.total.toFixed(0)} ms (explain ${answer.timings_ms.explain.toFixed(0)}` +
    ` ms, batch of ${answer.batch_size})`;
  showBranches(answer);
  applyOpacity();
  $("result").hidden = false;
  $("result").setAttribute("aria-busy", "false");
  setStatus(`${name}: explained.`);
}

function describeUncertainty(uncertainty) {
  if (uncertainty === null) {
    return $("uncertainty-toggle").disabled ? "not available for this model" : "not requested";
  }
  const [low, high] = uncertainty.interval;
  return `± ${formatProbability(uncertainty.std)} (95 % of ${uncertainty.samples} dropout ` +
    `samples in ${formatProbability(low)}–${formatProbability(high)})`;
}

function showBranches(answer) {
  const container = $("branches");
  container.replaceChildren();
  for (const branch of answer.branches) {
    const figure = document.createElement("figure");
    const stage = document.createElement("div");
    stage.className = "stage small";
    const base = document.createElement("img");
    base.src = png(answer.image.png);
    base.alt = "";
    const heat = document.createElement("img");
    heat.src = png(answer.heatmaps[branch].colormap_png);
    heat.className = "heat";
    heat.alt = `Heatmap of ${branch}`;
    stage.append(base, heat);
    const caption = document.createElement("figcaption");
    caption.textContent = branch;
    figure.append(stage, caption);
    container.append(figure);
  }
}

function applyOpacity() {
  const value = Number($("opacity").value);
  $("opacity-value").textContent = `${value} %`;
  for (const heat of document.querySelectorAll("img.heat")) {
    heat.style.opacity = String(value / 100);
  }
}

function watchDrops() {
  const zone = $("drop-zone");
  for (const event of ["dragenter", "dragover"]) {
    zone.addEventListener(event, (e) => {
      e.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const event of ["dragleave", "drop"]) {
    zone.addEventListener(event, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer.files[0];
    if (file) explain(file);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("file-input").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) explain(file);
  });
  $("opacity").addEventListener("input", applyOpacity);
  watchDrops();
  loadModel();
});
