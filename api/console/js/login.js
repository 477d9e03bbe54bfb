// Login: an API key (hf_..., with its tenant) or a JWT, kept in sessionStorage only, and
// checked with GET /api/tenant before the console opens.
import { get, logout, saveCredential } from "./api.js";
import { field, h, say } from "./dom.js";
import { query } from "./router.js";

export async function loginPage(main) {
  logout();
  document.getElementById("logout").hidden = true;
  const secret = h("input", { type: "password", name: "credential", autocomplete: "off",
    required: true });
  const tenant = h("input", { type: "text", name: "tenant", autocomplete: "organization",
    value: "default" });
  const form = h("form", { class: "stack", "aria-labelledby": "login-title" },
    ...field("API key or JWT", secret),
    ...field("Tenant (for an API key; a JWT names its own)", tenant),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "login" }, "Log in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    saveCredential(secret.value, tenant.value);
    try {
      const who = await get("/api/tenant");
      say(`Logged in to ${who.tenant || tenant.value}`);
      location.hash = query().get("next") || "#/workflows";
    } catch (err) {
      logout();
      say(`Login failed: ${err.message}`, true);
    }
  });
  main.append(h("h1", { id: "login-title" }, "Log in"), h("section", {}, form));
  secret.focus();
}
