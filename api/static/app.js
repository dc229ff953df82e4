// Facet's search page: plain JavaScript over the JSON API.
"use strict";

const photo = document.getElementById("photo");
const drop = document.getElementById("drop");
const preview = document.getElementById("preview");
const filters = document.getElementById("filters");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
const resultsTitle = document.getElementById("results-title");
const card = document.getElementById("card");
const viewer = document.getElementById("viewer");
const viewerImage = document.getElementById("viewer-image");
const viewerCaption = document.getElementById("viewer-caption");
const viewerWarnings = document.getElementById("viewer-warnings");
// Tiles load thumbnails (the longer side 256 px, 512 on high-density screens), a fraction of
// the originals' bytes; an original is loaded only when its tile is opened.
const TILE_SIZE = 256;
const words = document.getElementById("words");
const wordsForm = document.getElementById("words-form");
let lastFile = null;
// Liked and disliked SKUs: each click asks /v1/recommend for more like these, less like those.
const liked = new Set();
const disliked = new Set();

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function filterParams(includeK) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(filters)) {
    if (value === "" || (name === "k" && !includeK)) continue;
    params.append(name, value);
  }
  return params;
}

async function problemText(response) {
  try {
    const body = await response.json();
    return body.detail || body.title || response.statusText;
  } catch {
    return response.statusText;
  }
}

function formatPrice(result) {
  if (result.price === null || result.price === undefined) return "";
  return `${result.price.toFixed(2)}${result.currency ? " " + result.currency : ""}`;
}

function thumbnail(url, size) {
  const sized = new URL(url, location.href);
  sized.searchParams.set("size", size);
  return sized.href;
}

function openOriginal(result) {
  viewerImage.src = result.image_url;
  viewerImage.alt = viewerCaption.textContent = result.title || result.sku;
  viewer.dataset.sku = result.sku;
  viewerWarnings.replaceChildren();
  viewerWarnings.hidden = true;
  viewer.showModal();
  showPhotoWarnings(result);
}

// The product's photos that failed or warned the quality checks (`facet quality`), if any.
async function showPhotoWarnings(result) {
  const response = await fetch(`/v1/products/${encodeURIComponent(result.sku)}`);
  if (!response.ok || viewer.dataset.sku !== result.sku) return;  // another one opened since
  const flagged = (await response.json()).images.filter(
    (image) => image.quality && image.quality.verdict !== "ok");
  for (const image of flagged) {
    const item = document.createElement("li");
    item.className = image.quality.verdict;
    const which = image.image_id === result.image_id ? "This photo" : `Photo ${image.position + 1}`;
    const excluded = image.quality.excluded ? "; kept out of search" : "";
    item.textContent = `${which}: ${image.quality.verdict} (${image.quality.reasons.join(", ")})${excluded}`;
    viewerWarnings.appendChild(item);
  }
  viewerWarnings.hidden = !flagged.length;
}

function show(title, items, confident = true) {
  results.replaceChildren();
  results.classList.toggle("uncertain", !confident);
  resultsTitle.hidden = false;
  resultsTitle.textContent = title;
  for (const result of items) {
    const node = card.content.cloneNode(true);
    const image = node.querySelector("img");
    image.srcset = `${thumbnail(result.image_url, TILE_SIZE)} 1x, ${thumbnail(result.image_url, 2 * TILE_SIZE)} 2x`;
    image.src = thumbnail(result.image_url, TILE_SIZE);
    image.alt = result.title || result.sku;
    node.querySelector(".zoom").addEventListener("click", () => openOriginal(result));
    node.querySelector(".title").textContent = result.title || result.sku;
    node.querySelector(".price").textContent = formatPrice(result);
    node.querySelector(".score").textContent = `score ${result.score.toFixed(3)}`;
    const button = node.querySelector(".pick");
    button.dataset.sku = result.sku;
    button.addEventListener("click", () => similar(result.sku, result.title || result.sku));
    for (const [selector, mine, other] of [[".like", liked, disliked], [".dislike", disliked, liked]]) {
      const taste = node.querySelector(selector);
      taste.dataset.sku = result.sku;
      taste.setAttribute("aria-pressed", String(mine.has(result.sku)));
      taste.addEventListener("click", () => {
        if (mine.has(result.sku)) mine.delete(result.sku); else { mine.add(result.sku); other.delete(result.sku); }
        recommend();
      });
    }
    results.appendChild(node);
  }
  if (!items.length) setStatus("No products match these filters.");
}

async function search(file) {
  if (!file) return words.value.trim() && searchWords();
  lastFile = file;
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  setStatus("Searching…");
  const body = new FormData();
  body.append("image", file);
  body.append("k", new FormData(filters).get("k") || "12");
  const params = filterParams(false);
  if (words.value.trim()) params.set("q", words.value.trim());  // photo and words: fused
  const response = await fetch(`/v1/search?${params}`, { method: "POST", body });
  if (!response.ok) {
    setStatus(`Search failed: ${await problemText(response)}`, true);
    return;
  }
  const data = await response.json();
  const t = data.timings;
  setStatus(`${data.results.length} results in ${(t.decode_ms + t.embed_ms + t.search_ms + t.products_ms).toFixed(0)} ms`);
  // Below the calibrated threshold the best result is usually wrong: say so, show the nearest.
  show(data.confident ? "Closest products" : "No close match; here are the nearest", data.results, data.confident);
}

async function similar(sku, title) {
  setStatus(`Finding products like ${title}…`);
  const params = filterParams(true);
  const response = await fetch(`/v1/products/${encodeURIComponent(sku)}/similar?${params}`);
  if (!response.ok) {
    setStatus(`Similar items failed: ${await problemText(response)}`, true);
    return;
  }
  const data = await response.json();
  setStatus(`${data.results.length} products like ${title}`);
  show(data.confident ? `Similar to ${title}` : `Nothing close to ${title}; the nearest`, data.results, data.confident);
}

async function searchWords() {
  const params = filterParams(true);
  params.set("q", words.value.trim());
  setStatus("Searching…");
  const response = await fetch(`/v1/search?${params}`);
  if (!response.ok) {
    setStatus(`Search failed: ${await problemText(response)}`, true);
    return;
  }
  const data = await response.json();
  setStatus(`${data.results.length} products match “${words.value.trim()}”`);
  show(`Matching “${words.value.trim()}”`, data.results);
}

async function recommend() {
  if (!liked.size) {
    setStatus(disliked.size ? "Like at least one product to get recommendations." : "");
    for (const button of results.querySelectorAll(".like, .dislike")) {
      const mine = button.classList.contains("like") ? liked : disliked;
      button.setAttribute("aria-pressed", String(mine.has(button.dataset.sku)));
    }
    return;
  }
  const body = new FormData();
  for (const sku of liked) body.append("positive", sku);
  for (const sku of disliked) body.append("negative", sku);
  body.append("strategy", "best_score");
  body.append("k", new FormData(filters).get("k") || "12");
  setStatus("Recommending…");
  const response = await fetch(`/v1/recommend?${filterParams(false)}`, { method: "POST", body });
  if (!response.ok) {
    setStatus(`Recommendations failed: ${await problemText(response)}`, true);
    return;
  }
  const data = await response.json();
  setStatus(`${data.results.length} products for ${liked.size} liked, ${disliked.size} disliked`);
  show("Recommended: more like your likes", data.results, data.confident);
}

async function loadFacets() {
  const response = await fetch("/v1/facets");
  if (!response.ok) return;
  const facets = await response.json();
  for (const name of ["category", "material", "style"]) {
    const select = filters.elements[name];
    for (const value of facets[name] || []) {
      const option = document.createElement("option");
      option.value = option.textContent = value;
      select.appendChild(option);
    }
  }
}

viewer.addEventListener("click", (event) => { if (event.target === viewer) viewer.close(); });
viewer.addEventListener("close", () => { viewerImage.removeAttribute("src"); delete viewer.dataset.sku; });
photo.addEventListener("change", () => search(photo.files[0]));
filters.addEventListener("change", () => (lastFile || words.value.trim()) && search(lastFile));
wordsForm.addEventListener("submit", (event) => { event.preventDefault(); search(lastFile); });
for (const type of ["dragenter", "dragover"]) {
  drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("over"); });
}
for (const type of ["dragleave", "drop"]) {
  drop.addEventListener(type, () => drop.classList.remove("over"));
}
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer.files[0];
  if (file) search(file);
});
loadFacets();
