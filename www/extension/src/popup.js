// The toolbar button's popup: turns the shield off, or on again, for the site in the current
// tab, and lists the sites where it is off. The list lives in chrome.storage.local under "off"
// (origins); content.js reads it, and follows changes at once. `?origin=` names a site instead
// of the current tab's (how the tests open this page).
const KEY = "off";
const site = document.getElementById("site");
const on = document.getElementById("on");
const list = document.getElementById("off");

async function currentOrigin() {
  const named = new URLSearchParams(location.search).get("origin");
  if (named) return named;
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  try {
    const url = new URL(tab?.url ?? "");
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : null;
  } catch {
    return null;
  }
}

const offSites = async () => (await chrome.storage.local.get(KEY))[KEY] ?? [];
const setOff = (origins) => chrome.storage.local.set({ [KEY]: [...new Set(origins)].sort() });

async function render(origin) {
  const off = await offSites();
  on.checked = !!origin && !off.includes(origin);
  list.replaceChildren(
    ...off.map((o) => {
      const li = document.createElement("li");
      const again = document.createElement("button");
      again.textContent = "turn on";
      again.addEventListener("click", async () => {
        await setOff((await offSites()).filter((x) => x !== o));
        render(origin);
      });
      li.append(o, again);
      return li;
    }),
  );
  if (!off.length) list.append(Object.assign(document.createElement("li"), { textContent: "none" }));
}

const origin = await currentOrigin();
site.textContent = origin ?? "This page is not a web site the shield runs on.";
on.disabled = !origin;
on.addEventListener("change", async () => {
  const off = (await offSites()).filter((o) => o !== origin);
  await setOff(on.checked ? off : [...off, origin]);
  render(origin);
});
render(origin);
