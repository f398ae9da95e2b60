import type { Logger } from "../../observability/logger.js";
import type { ConnectorModule } from "../../psp/module.js";
import { cookieHeader, cookieName, cookiesOf } from "../auth/sessionCookies.js";
import { HttpError, type NodeRequest, type NodeResponse } from "../httpJson.js";
import type { HttpRoute } from "../httpRoutes.js";
import { readForm } from "../merchantRoutes.js";
import { redirect, sendHtml, sendMessage } from "../pages/html.js";
import { consoleShell, loginPage } from "./consolePages.js";
import { CONSOLE_COOKIE, CONSOLE_SESSION_MS, LOGIN_COOKIE, type ConsoleSessions } from "./consoleSessions.js";

const LOGIN_MS = 15 * 60_000;

/** The login form, with a fresh pre-session cookie whose nonce derives the form's CSRF token; always 401. */
function sendLogin(sessions: ConsoleSessions, res: NodeResponse, problem?: string): void {
  const pre = sessions.cookies.issue("console-login", "login", LOGIN_MS);
  sendHtml(res, 401, loginPage(sessions.cookies.csrfToken(pre.nonce), problem), {
    "set-cookie": cookieHeader(LOGIN_COOKIE, pre.value, LOGIN_MS / 1000, "Strict"),
  });
}

/**
 * The operator console: GET /console is the shell (or the login form, 401, without a session);
 * the views call OperationsService and ShopService over Connect with the session cookie and its
 * CSRF header. Login and logout are CSRF-protected forms.
 */
export function consoleRoutes(sessions: ConsoleSessions, modules: readonly ConnectorModule<never>[], log: Logger): HttpRoute[] {
  const disabled = (res: NodeResponse) => sendMessage(res, 404, "Console disabled", "The operator console needs ADMIN_TOKEN to be set.", "Operator console");
  return [
    {
      label: "GET /console",
      methods: ["GET"],
      pattern: /^\/console\/?$/,
      handle(req, res) {
        if (!sessions.enabled) return disabled(res);
        const s = sessions.session(req.headers.cookie);
        if (!s) return sendLogin(sessions, res);
        sendHtml(res, 200, consoleShell(sessions.cookies.csrfToken(s.nonce), modules));
      },
    },
    {
      label: "GET|POST /console/login",
      methods: ["GET", "POST"],
      pattern: /^\/console\/login$/,
      async handle(req: NodeRequest, res: NodeResponse) {
        if (!sessions.enabled) return disabled(res);
        if (req.method === "GET") return sendLogin(sessions, res);
        let form: URLSearchParams;
        try {
          form = await readForm(req);
        } catch (err) {
          if (err instanceof HttpError) return sendMessage(res, err.status, "Request refused", err.message);
          throw err;
        }
        const pre = sessions.cookies.read("console-login", cookiesOf(req.headers.cookie).get(cookieName(LOGIN_COOKIE)));
        if (!pre || !sessions.cookies.csrfValid(pre.nonce, form.get("csrf")) || req.headers["sec-fetch-site"] === "cross-site")
          return sendMessage(res, 403, "Request refused", "This sign-in form has expired or was not sent from our page; reload it.");
        if (!sessions.tokenMatches(form.get("token") ?? "")) {
          log({ level: "warn", msg: "console sign-in refused", address: req.socket?.remoteAddress });
          return sendLogin(sessions, res, "That is not the operator token.");
        }
        log({ level: "info", msg: "console sign-in", address: req.socket?.remoteAddress });
        const session = sessions.cookies.issue("console", "operator", CONSOLE_SESSION_MS);
        redirect(res, "/console", {
          "set-cookie": [cookieHeader(CONSOLE_COOKIE, session.value, CONSOLE_SESSION_MS / 1000, "Strict"), cookieHeader(LOGIN_COOKIE, "", 0, "Strict")],
        });
      },
    },
    {
      label: "POST /console/logout",
      methods: ["POST"],
      pattern: /^\/console\/logout$/,
      async handle(req, res) {
        const s = sessions.session(req.headers.cookie);
        if (!s) return sendLogin(sessions, res);
        const form = await readForm(req).catch(() => new URLSearchParams());
        if (!sessions.cookies.csrfValid(s.nonce, form.get("csrf"))) return sendMessage(res, 403, "Request refused", "This form was not sent from our page.");
        redirect(res, "/console", { "set-cookie": cookieHeader(CONSOLE_COOKIE, "", 0, "Strict") });
      },
    },
  ];
}
