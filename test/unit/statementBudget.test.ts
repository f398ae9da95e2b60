import { DatabaseTimeoutError } from "../../src/store/boundedDb";
import { createStatementBudget } from "../../src/store/statementBudget";

// The budget of update statements in flight on one embedded FerretDB database (statementBudget.ts).
const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
};

test("work waits until its statements are free, first come first served, and never exceeds the budget", async () => {
  const budget = createStatementBudget(10);
  let inFlight = 0;
  let most = 0;
  const started: string[] = [];
  const gates = new Map<string, ReturnType<typeof gate>>();
  const job = (name: string, n: number) => {
    const g = gate();
    gates.set(name, g);
    return budget.run(n, async () => {
      started.push(name);
      inFlight += n;
      most = Math.max(most, inFlight);
      await g.opened;
      inFlight -= n;
      return name;
    });
  };
  const a = job("a", 6);
  const b = job("b", 6); // must wait for a
  const c = job("c", 2); // fits beside a, but comes after b: waits its turn
  await Promise.resolve();
  expect(started).toEqual(["a"]);
  gates.get("a")!.open();
  await a;
  await new Promise(setImmediate);
  expect(started).toEqual(["a", "b", "c"]);
  gates.get("b")!.open();
  gates.get("c")!.open();
  expect(await Promise.all([b, c])).toEqual(["b", "c"]);
  expect(most).toBe(8);
});

test("work larger than the whole budget is refused unrun; a failure frees its statements", async () => {
  const budget = createStatementBudget(10);
  let ran = false;
  await expect(budget.run(11, async () => void (ran = true))).rejects.toThrow(/over FerretDB's budget of 10/);
  expect(ran).toBe(false);
  await expect(budget.run(10, () => Promise.reject(new Error("refused")))).rejects.toThrow("refused");
  // All ten are free again: two of five run together.
  let together = 0;
  let most = 0;
  const run = () =>
    budget.run(5, async () => {
      most = Math.max(most, ++together);
      await new Promise(setImmediate);
      together--;
    });
  await Promise.all([run(), run()]);
  expect(most).toBe(2);
});

test("a command past its bound keeps its statements counted until the call itself ends", async () => {
  const budget = createStatementBudget(10);
  const call = gate();
  await expect(budget.run(8, () => Promise.reject(new DatabaseTimeoutError("no answer within 1500 ms", call.opened)))).rejects.toThrow("no answer");
  // FerretDB may still be running it: a command of 8 more waits.
  let ran = false;
  const next = budget.run(8, async () => void (ran = true));
  await new Promise(setImmediate);
  expect(ran).toBe(false);
  call.open();
  await next;
  expect(ran).toBe(true);
});
