import { startTestServer, testAdminToken, type TestServer } from "../helpers/testServer";

// Without a console session every console page and every operators' API answers 401; forms
// without their CSRF token and API calls without the CSRF header are refused.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

const rpcs = [
  "OperationsService/ListPayments",
  "OperationsService/GetPaymentStats",
  "OperationsService/ListParkedCallbacks",
  "OperationsService/RedeliverCallbacks",
  "OperationsService/GetPaymentTimeline",
  "ShopService/ListShops",
  "ShopService/CreateShop",
  "ShopService/UpdateShop",
  "ShopService/DeleteShop",
  "ShopService/DeactivateShop",
];
const call = (rpc: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/genstore.payment.v1.${rpc}`, {
    method: "POST",
    headers: { "content-type": "application/json", "connect-protocol-version": "1", ...headers },
    body: "{}",
  });

async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const login = await fetch(`${server.url}/console/login`);
  const pre = login.headers.getSetCookie()[0]!.split(";")[0]!;
  const loginCsrf = /name="csrf" value="([^"]+)"/.exec(await login.text())![1]!;
  const res = await fetch(`${server.url}/console/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: pre },
    body: new URLSearchParams({ csrf: loginCsrf, token: testAdminToken }).toString(),
  });
  expect(res.status).toBe(303);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("__Host-gsp_console="))!;
  expect(cookie).toMatch(/; Secure; HttpOnly; SameSite=Strict$/);
  const shell = await (await fetch(`${server.url}/console`, { headers: { cookie: cookie.split(";")[0]! } })).text();
  return { cookie: cookie.split(";")[0]!, csrf: /data-csrf="([^"]+)"/.exec(shell)![1]! };
}

test("no session: console pages and operators' APIs answer 401", async () => {
  for (const path of ["/console", "/console/", "/console/login"]) {
    const res = await fetch(`${server.url}${path}`);
    expect(res.status).toBe(401);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
  }
  expect((await fetch(`${server.url}/console/logout`, { method: "POST" })).status).toBe(401);
  for (const rpc of rpcs) expect((await call(rpc)).status).toBe(401);
  // A forged cookie is no session either.
  for (const rpc of rpcs.slice(0, 2))
    expect(
      (await call(rpc, { cookie: "__Host-gsp_console=eyJrIjoiY29uc29sZSJ9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x-csrf-token": "A".repeat(43) }))
        .status,
    ).toBe(401);
});

test("a sign-in without its CSRF token, or with a wrong operator token, opens no session", async () => {
  const login = await fetch(`${server.url}/console/login`);
  const pre = login.headers.getSetCookie()[0]!.split(";")[0]!;
  const form = (body: Record<string, string>, cookie = pre) =>
    fetch(`${server.url}/console/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie },
      body: new URLSearchParams(body).toString(),
    });
  const noCsrf = await form({ token: testAdminToken });
  expect(noCsrf.status).toBe(403);
  expect(noCsrf.headers.getSetCookie().some((c) => c.startsWith("__Host-gsp_console="))).toBe(false);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await login.text())![1]!;
  const wrong = await form({ csrf, token: "not-the-operator-token" });
  expect(wrong.status).toBe(401);
  expect(wrong.headers.getSetCookie().some((c) => c.startsWith("__Host-gsp_console="))).toBe(false);
});

test("with a session: API calls need the CSRF header; logout needs the form's token", async () => {
  const { cookie, csrf } = await signIn();
  expect((await call("ShopService/ListShops", { cookie })).status).toBe(401);
  expect((await call("ShopService/ListShops", { cookie, "x-csrf-token": "B".repeat(43) })).status).toBe(401);
  const ok = await call("ShopService/ListShops", { cookie, "x-csrf-token": csrf });
  expect(ok.status).toBe(200);
  const logout = (body: string) =>
    fetch(`${server.url}/console/logout`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie },
      body,
    });
  expect((await logout("")).status).toBe(403);
  expect((await logout(`csrf=${csrf}`)).status).toBe(303);
});
