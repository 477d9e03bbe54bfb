// The console's entry point: routes to pages; each page lives in its own module under js/.
import { logout } from "./js/api.js";
import { bulkJobPage, bulkListPage } from "./js/bulk.js";
import { loginPage } from "./js/login.js";
import { dispatch, route } from "./js/router.js";
import { runPage } from "./js/run.js";
import { runsPage } from "./js/runs.js";
import { workflowPage } from "./js/workflow.js";
import { workflowsPage } from "./js/workflows.js";

route("/login", loginPage);
route("/workflows", workflowsPage);
route("/workflows/:id", workflowPage);
route("/runs", runsPage);
route("/runs/:id", runPage);
route("/bulk", bulkListPage);
route("/bulk/:id", bulkJobPage);

document.getElementById("logout").addEventListener("click", () => {
  logout();
  location.hash = "#/login";
});
window.addEventListener("hashchange", dispatch);
dispatch();
