// Hash routes (#/runs/run_123): no server routing needed, one page in the browser history
// per view. A page may register timers with `every`; they stop when the route changes.
import { credential } from "./api.js";
import { say } from "./dom.js";

const routes = [];
let timers = [];

export function route(pattern, render) {
  const names = [];
  const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, n) => {
    names.push(n);
    return "([^/?]+)";
  })}(?:\\?.*)?$`);
  routes.push({ regex, names, render });
}

export function every(ms, fn) {
  timers.push(setInterval(fn, ms));
}

export function query() {
  const at = location.hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : location.hash.slice(at + 1));
}

export async function dispatch() {
  timers.forEach(clearInterval);
  timers = [];
  const path = location.hash.slice(1) || "/workflows";
  if (!credential() && !path.startsWith("/login")) {
    location.hash = `#/login?next=${encodeURIComponent(`#${path}`)}`;
    return;
  }
  document.getElementById("logout").hidden = !credential();
  const main = document.getElementById("main");
  for (const { regex, names, render } of routes) {
    const found = regex.exec(path);
    if (!found) continue;
    const params = {};
    names.forEach((n, i) => { params[n] = decodeURIComponent(found[i + 1]); });
    main.replaceChildren();
    say("");
    try {
      await render(main, params);
    } catch (err) {
      if (err.status !== 401) say(err.message, true);
    }
    return;
  }
  main.replaceChildren();
  say("No such page", true);
}
