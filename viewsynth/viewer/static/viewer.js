// The viewer page of `viewsynth view`: the 360 walkthrough in Photo Sphere Viewer, the flat
// walkthrough beside it (seek or play one, the other follows), and the current frame's position
// (altitude where known) and heading from manifest.json (frame index = floor(currentTime * fps)).
import { Viewer } from "@photo-sphere-viewer/core";
import { VideoPlugin } from "@photo-sphere-viewer/video-plugin";
import { EquirectangularVideoAdapter } from "@photo-sphere-viewer/equirectangular-video-adapter";

const $ = (id) => document.getElementById(id);
const flat = $("flat");
// For tests and the curious: the current segment, the viewer and both videos.
const page = (window.viewsynthView = { segment: null, viewer: null, pano: null, flat, ready: false });

async function getJSON(url) {
  try {
    const response = await fetch(url, { cache: "no-cache" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

function addSegments(list, base, label, manifest) {
  const fps = Number(manifest?.settings?.fps) || 30;
  const segments = manifest?.segments || [];
  segments.forEach((segment, i) => {
    const name = [label, segments.length > 1 ? `segment ${i + 1}` : ""].filter(Boolean).join(" · ");
    list.push({ name: name || "walkthrough", base, files: segment.files || {}, frames: segment.frames || [], fps });
  });
}

// One output folder (manifest.json) or a root of captures (summary.json + NAME/manifest.json).
async function findSegments() {
  const list = [];
  const top = await getJSON("manifest.json");
  if (top) {
    addSegments(list, "", "", top);
    return list;
  }
  const summary = await getJSON("summary.json");
  for (const capture of summary?.captures || []) {
    // a walkthrough has outputs: "done", or "skipped" as finished by an earlier run (not a
    // root's stray entry, nor a capture that failed, was interrupted or not started)
    if (!["done", "skipped"].includes(capture.status) || !capture.outputs?.length) continue;
    const base = `${encodeURIComponent(capture.name)}/`;
    addSegments(list, base, capture.name, await getJSON(`${base}manifest.json`));
  }
  return list;
}

function fileURL(segment, key) {
  const name = segment.files[key];
  return name ? segment.base + name.split("/").map(encodeURIComponent).join("/") : null;
}

// Seek, play, pause or change the rate of `a` and `b` follows; a guard against ping-pong is the
// tolerance: when b is already where a is, nothing is set.
function follow(a, b) {
  a.addEventListener("seeking", () => {
    if (Math.abs(b.currentTime - a.currentTime) > 0.02) b.currentTime = a.currentTime;
  });
  a.addEventListener("play", () => b.paused && b.play().catch(() => {}));
  a.addEventListener("pause", () => !b.paused && b.pause());
  a.addEventListener("ratechange", () => (b.playbackRate = a.playbackRate));
}

function makeVideo(src) {
  const video = document.createElement("video");
  Object.assign(video, { src, muted: true, playsInline: true, preload: "auto", crossOrigin: "anonymous" });
  return video;
}

function fmt(x, digits) {
  return typeof x === "number" ? x.toFixed(digits) : "–";
}

function showFrame() {
  const segment = page.segment;
  if (segment) {
    const clock = page.pano || flat;
    const n = segment.frames.length;
    const index = Math.max(0, Math.min(n - 1, Math.floor(clock.currentTime * segment.fps + 1e-6)));
    const row = segment.frames[index] || {};
    $("frame").textContent = `frame ${index + 1} / ${n} · ${clock.currentTime.toFixed(2)} s`;
    const alt = "alt" in row ? `  alt ${fmt(row.alt, 1)} m` : ""; // (the source's datum: README)
    $("position").textContent =
      "lat" in row ? `lat ${fmt(row.lat, 6)}  lon ${fmt(row.lon, 6)}${alt}` : "no position in the manifest";
    $("heading").textContent = "heading" in row ? `heading ${fmt(row.heading, 1)}°` : "";
    page.frame = index;
    // The follower drifts while playing; pull it back when it is off by more than a frame or so.
    if (page.pano && !page.pano.paused && Math.abs(flat.currentTime - page.pano.currentTime) > 0.15) {
      flat.currentTime = page.pano.currentTime;
    }
  }
  requestAnimationFrame(showFrame);
}

function open(segment) {
  page.ready = false;
  document.body.dataset.ready = "";
  if (page.viewer) page.viewer.destroy();
  page.viewer = page.pano = null;
  page.segment = segment;
  flat.pause();
  flat.src = fileURL(segment, "flat") || "";
  const source = fileURL(segment, "360");
  document.body.classList.toggle("flat-only", !source);
  const done = () => {
    page.ready = true;
    document.body.dataset.ready = "1";
    $("status").textContent = `${segment.frames.length} frames at ${segment.fps} fps`;
  };
  if (!source) {
    flat.addEventListener("loadeddata", done, { once: true });
    return;
  }
  const pano = (page.pano = makeVideo(source));
  follow(pano, flat);
  follow(flat, pano);
  const viewer = (page.viewer = new Viewer({
    container: $("pano"),
    adapter: [EquirectangularVideoAdapter, { muted: true }],
    panorama: { source: pano },
    plugins: [[VideoPlugin, { progressbar: true, bigbutton: true }]],
    navbar: ["videoPlay", "videoTime", "zoom", "move", "fullscreen"],
    defaultYaw: 0,
    defaultPitch: 0,
    touchmoveTwoFingers: false,
  }));
  // three's VideoTexture uploads a frame only when the video presents one (requestVideoFrameCallback).
  // The first frame may be presented before the viewer makes its texture, and a paused video presents
  // no other, so the sphere would stay black until played: once both are ready, seek to where the
  // video stands, which presents that frame again, and count the page ready when it has.
  const redraw = () => {
    pano.addEventListener("seeked", done, { once: true });
    pano.currentTime = pano.currentTime;
  };
  let shown = 0;
  const both = () => ++shown === 2 && redraw();
  viewer.addEventListener("ready", both, { once: true });
  if (pano.readyState >= 2) both();
  else pano.addEventListener("loadeddata", both, { once: true });
}

async function start() {
  const segments = await findSegments();
  if (!segments.length) {
    $("status").textContent = "no manifest.json or summary.json with a finished walkthrough here";
    return;
  }
  const select = $("segment");
  segments.forEach((segment, i) => select.add(new Option(segment.name, String(i))));
  $("choose").hidden = segments.length < 2;
  select.addEventListener("change", () => open(segments[Number(select.value)]));
  page.segments = segments;
  page.open = (i) => {
    select.value = String(i);
    open(segments[i]);
  };
  open(segments[0]);
  requestAnimationFrame(showFrame);
}

start();
