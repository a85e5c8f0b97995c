// Refusals name the field at fault: paths are built while a problem travels up
// the schema (a conforming payload builds none), so they are checked here.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { codeUnitLess, sortShort } from "../src/codec/short-sort.ts";
import { WalletError } from "../src/errors.ts";
import { validatePayload, validateSharedEvent } from "../src/events/envelope.ts";

const coin = (i: number) => ({ coinPub: `coin-${i}`, denomPubHash: "denom", value: "KUDOS:1" });
const withdrawal = (coins: unknown[], extra: Record<string, unknown> = {}) => ({
  url: "https://exchange.example/",
  withdrawalGroupId: "wg-1",
  coins,
  ...extra,
});

function refusal(f: () => void): WalletError {
  try {
    f();
  } catch (e) {
    if (e instanceof WalletError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("validation paths", () => {
  it.each([
    ["a nested field of the wrong form", withdrawal([coin(0), { ...coin(1), value: "KUDOS:1.50" }]), "data.coins[1].value"],
    ["a required nested field missing", withdrawal([coin(0), coin(1), { coinPub: "c", value: "KUDOS:1" }]), "data.coins[2].denomPubHash"],
    ["an unknown nested field", withdrawal([{ ...coin(0), extra: 1 }]), "data.coins[0].extra"],
    ["an unknown top-level field", withdrawal([coin(0)], { extra: true }), "data.extra"],
    ["an item that is not an object", withdrawal([coin(0), 7]), "data.coins[1]"],
    ["a rule across fields", withdrawal([]), "data"],
  ])("%s is named by its path", (_, data, path) => {
    const e = refusal(() => validatePayload("coins-withdrawn", data, () => "new event"));
    expect(e.code).toBe("event-invalid");
    expect(e.details?.path).toBe(path);
    expect(e.message).toContain(`new event: coins-withdrawn ${path} `);
  });

  it("accepts a conforming payload", () => {
    expect(() => validatePayload("coins-withdrawn", withdrawal([coin(0), coin(1)]), "new event")).not.toThrow();
  });

  it("names an imported event by its index and dot, or by its index alone before it has a dot", () => {
    const good = { device: "dev-a", seq: 1, lamport: 1, deps: { "dev-a": 0 }, time: 1, type: "coin-spent", data: { spendId: "s", coinPub: "c", amount: "KUDOS:1.50" } };
    expect(refusal(() => validateSharedEvent(good, "events", 4)).message).toMatch(/^events\[4\] \(dev-a:1\): /);
    expect(refusal(() => validateSharedEvent({ ...good, device: 5 }, "events", 4)).message).toMatch(/^events\[4\]: device /);
    expect(refusal(() => validateSharedEvent(null, "events", 0)).message).toBe("events[0]: expected an object");
    expect(refusal(() => validateSharedEvent(null)).message).toBe("event: expected an object");
  });
});

describe("sortShort", () => {
  it("sorts as the built-in sort does, stably, short and long", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 3 }), fc.nat()), { maxLength: 80 }), (items) => {
        const byKey = (a: [string, number], b: [string, number]) => a[0] < b[0];
        const expected = [...items].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        expect(sortShort([...items], byKey)).toEqual(expected);
        const keys = items.map(([k]) => k);
        expect(sortShort([...keys], codeUnitLess)).toEqual([...keys].sort());
      }),
      { numRuns: 500 },
    );
  });
});
