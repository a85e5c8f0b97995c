// Exchange deciders (DD 48) as given facts, when a request, then events or a
// refusal; and the merge rules of the exchange record as the deciders see them.
import { describe, expect, it } from "vitest";
import {
  acceptedTos,
  decideAddExchange,
  decideDeleteExchange,
  decideSetSuspended,
  decideSetTosAccepted,
  decideSetTosForgotten,
  entryStatus,
  getExchangeRecord,
  isSuspended,
  tosStatus,
} from "../../src/projections/exchanges.ts";
import { getResources } from "../../src/projections/resources.ts";
import type { Records } from "../../src/events/records.ts";
import {
  EX,
  EX2,
  aborted,
  added,
  addedPreset,
  coin,
  deleted,
  keysFetched,
  purged,
  spent,
  suspended,
  tosAccepted,
  tosForgotten,
  tosOffered,
  unsuspended,
  withdrawn,
} from "../support/facts.ts";
import { by, given } from "../support/given.ts";

const entryOf = (records: Records, url: string) => {
  const r = getExchangeRecord(records, url);
  return r && entryStatus(r);
};
const acceptedOf = (records: Records, url: string) => acceptedTos(getExchangeRecord(records, url)!);

describe("decideAddExchange", () => {
  it("adding an unknown exchange records it as ephemeral", () => {
    given().when(decideAddExchange, { url: EX, preset: false }).then([added(EX)]);
  });
  it("adding an unknown exchange as a preset records a preset", () => {
    given().when(decideAddExchange, { url: EX, preset: true }).then([addedPreset(EX)]);
  });
  it("adding a preset explicitly lifts it to ephemeral", () => {
    given(addedPreset(EX)).when(decideAddExchange, { url: EX, preset: false }).then([added(EX)]);
  });
  it("adding a preset again as a preset appends nothing", () => {
    given(addedPreset(EX)).when(decideAddExchange, { url: EX, preset: true }).thenNothing();
  });
  it("adding an ephemeral exchange again appends nothing", () => {
    given(added(EX)).when(decideAddExchange, { url: EX, preset: false }).thenNothing();
  });
  it("offering an ephemeral exchange as a preset appends nothing", () => {
    given(added(EX)).when(decideAddExchange, { url: EX, preset: true }).thenNothing();
  });
  it("adding a used exchange again appends nothing", () => {
    given(added(EX), withdrawn(EX, "g1", [coin("c1", "KUDOS:1")]))
      .when(decideAddExchange, { url: EX, preset: false })
      .thenNothing();
  });
  it("adding a deleted exchange records it again", () => {
    given(added(EX), deleted(EX)).when(decideAddExchange, { url: EX, preset: false }).then([added(EX)]);
  });
  it("adding one exchange does not look at another", () => {
    given(added(EX2)).when(decideAddExchange, { url: EX, preset: false }).then([added(EX)]);
  });
});

describe("decideSetTosAccepted", () => {
  it("accepting the ToS of an unknown exchange is refused", () => {
    given().when(decideSetTosAccepted, { url: EX, etag: "v1" }).refused("exchange-unknown");
  });
  it("accepting the ToS of a deleted exchange is refused", () => {
    given(added(EX), deleted(EX)).when(decideSetTosAccepted, { url: EX, etag: "v1" }).refused("exchange-unknown");
  });
  it("accepting the offered etag records the acceptance", () => {
    given(added(EX), tosOffered(EX, "v1")).when(decideSetTosAccepted, { url: EX, etag: "v1" }).then([tosAccepted(EX, "v1")]);
  });
  it("accepting before any ToS was offered records the acceptance", () => {
    given(added(EX)).when(decideSetTosAccepted, { url: EX, etag: "v1" }).then([tosAccepted(EX, "v1")]);
  });
  it("accepting the etag already accepted appends nothing", () => {
    given(added(EX), tosOffered(EX, "v1"), tosAccepted(EX, "v1")).when(decideSetTosAccepted, { url: EX, etag: "v1" }).thenNothing();
  });
  it("accepting a newer etag replaces the older acceptance", () => {
    given(added(EX), tosAccepted(EX, "v1"), tosOffered(EX, "v2"))
      .when(decideSetTosAccepted, { url: EX, etag: "v2" })
      .then([tosAccepted(EX, "v2")]);
  });
  it("accepting again after forgetting records the acceptance again", () => {
    given(added(EX), tosAccepted(EX, "v1"), tosForgotten(EX)).when(decideSetTosAccepted, { url: EX, etag: "v1" }).then([tosAccepted(EX, "v1")]);
  });
  it("accepting the ToS of a suspended exchange is recorded (it needs no contact)", () => {
    given(added(EX), suspended(EX)).when(decideSetTosAccepted, { url: EX, etag: "v1" }).then([tosAccepted(EX, "v1")]);
  });
  it("accepting the ToS of a preset is recorded", () => {
    given(addedPreset(EX)).when(decideSetTosAccepted, { url: EX, etag: "v1" }).then([tosAccepted(EX, "v1")]);
  });
  it("accepting an etag other than the offered one leaves the ToS proposed", () => {
    const g = given(added(EX), tosOffered(EX, "v2"), tosAccepted(EX, "v1"));
    expect(tosStatus(getExchangeRecord(g.records, EX)!)).toBe("proposed");
    g.when(decideSetTosAccepted, { url: EX, etag: "v2" }).then([tosAccepted(EX, "v2")]);
  });
});

describe("decideSetTosForgotten", () => {
  it("forgetting the ToS of an unknown exchange is refused", () => {
    given().when(decideSetTosForgotten, { url: EX }).refused("exchange-unknown");
  });
  it("forgetting an accepted ToS records it", () => {
    given(added(EX), tosAccepted(EX, "v1")).when(decideSetTosForgotten, { url: EX }).then([tosForgotten(EX)]);
  });
  it("forgetting when nothing was accepted appends nothing", () => {
    given(added(EX), tosOffered(EX, "v1")).when(decideSetTosForgotten, { url: EX }).thenNothing();
  });
  it("forgetting twice appends nothing the second time", () => {
    given(added(EX), tosAccepted(EX, "v1"), tosForgotten(EX)).when(decideSetTosForgotten, { url: EX }).thenNothing();
  });
  it("an acceptance from before a delete is not there to forget after a re-add", () => {
    given(added(EX), tosAccepted(EX, "v1"), deleted(EX), added(EX)).when(decideSetTosForgotten, { url: EX }).thenNothing();
  });
});

describe("decideSetSuspended", () => {
  it("suspending an unknown exchange is refused", () => {
    given().when(decideSetSuspended, { url: EX, suspended: true }).refused("exchange-unknown");
  });
  it("unsuspending an unknown exchange is refused", () => {
    given().when(decideSetSuspended, { url: EX, suspended: false }).refused("exchange-unknown");
  });
  it("suspending an active exchange records the suspension", () => {
    given(added(EX)).when(decideSetSuspended, { url: EX, suspended: true }).then([suspended(EX)]);
  });
  it("suspending a suspended exchange appends nothing", () => {
    given(added(EX), suspended(EX)).when(decideSetSuspended, { url: EX, suspended: true }).thenNothing();
  });
  it("unsuspending a suspended exchange records it", () => {
    given(added(EX), suspended(EX)).when(decideSetSuspended, { url: EX, suspended: false }).then([unsuspended(EX)]);
  });
  it("unsuspending an active exchange appends nothing", () => {
    given(added(EX)).when(decideSetSuspended, { url: EX, suspended: false }).thenNothing();
  });
  it("suspending again after an unsuspend records it", () => {
    given(added(EX), suspended(EX), unsuspended(EX)).when(decideSetSuspended, { url: EX, suspended: true }).then([suspended(EX)]);
  });
  it("a suspension from before a delete does not survive a re-add", () => {
    given(added(EX), suspended(EX), deleted(EX), added(EX)).when(decideSetSuspended, { url: EX, suspended: false }).thenNothing();
  });
});

describe("decideDeleteExchange", () => {
  it("deleting an unknown exchange is refused", () => {
    given().when(decideDeleteExchange, { url: EX, purge: false }).refused("exchange-unknown");
  });
  it("deleting a deleted exchange is refused", () => {
    given(added(EX), deleted(EX)).when(decideDeleteExchange, { url: EX, purge: false }).refused("exchange-unknown");
  });
  it("deleting an exchange that holds nothing records the delete", () => {
    given(added(EX), keysFetched(EX)).when(decideDeleteExchange, { url: EX, purge: false }).then([deleted(EX)]);
  });
  it("deleting a preset records the delete", () => {
    given(addedPreset(EX)).when(decideDeleteExchange, { url: EX, purge: false }).then([deleted(EX)]);
  });
  it("deleting a suspended exchange records the delete", () => {
    given(added(EX), suspended(EX)).when(decideDeleteExchange, { url: EX, purge: false }).then([deleted(EX)]);
  });
  it("deleting an exchange whose coins have value left is refused", () => {
    given(added(EX), withdrawn(EX, "g1", [coin("c1", "KUDOS:5")]))
      .when(decideDeleteExchange, { url: EX, purge: false })
      .refused("exchange-has-resources");
  });
  it("deleting an exchange with a withdrawal still pending is refused", () => {
    given(added(EX), withdrawn(EX, "g1", [], "KUDOS:5")).when(decideDeleteExchange, { url: EX, purge: false }).refused("exchange-has-resources");
  });
  it("deleting an exchange whose coins are all spent records the delete", () => {
    given(added(EX), withdrawn(EX, "g1", [coin("c1", "KUDOS:5")]), spent("c1", "KUDOS:5", "s1"))
      .when(decideDeleteExchange, { url: EX, purge: false })
      .then([deleted(EX)]);
  });
  it("deleting an exchange whose pending withdrawal was aborted records the delete", () => {
    given(added(EX), withdrawn(EX, "g1", [], "KUDOS:5"), aborted("g1")).when(decideDeleteExchange, { url: EX, purge: false }).then([deleted(EX)]);
  });
  it("deleting an exchange whose only coin is double-spent records the delete", () => {
    given(
      added(EX),
      withdrawn(EX, "g1", [coin("c1", "KUDOS:5")]),
      spent("c1", "KUDOS:3", "s1"),
      by("B", spent("c1", "KUDOS:3", "s2"), { A: 2 }),
    )
      .when(decideDeleteExchange, { url: EX, purge: false })
      .then([deleted(EX)]);
  });
  it("purging an exchange with coins records a purge", () => {
    given(added(EX), withdrawn(EX, "g1", [coin("c1", "KUDOS:5")])).when(decideDeleteExchange, { url: EX, purge: true }).then([purged(EX)]);
  });
  it("purging an exchange that holds nothing records a purge", () => {
    given(added(EX)).when(decideDeleteExchange, { url: EX, purge: true }).then([purged(EX)]);
  });
  it("another exchange's coins do not stop a delete", () => {
    given(added(EX), added(EX2), withdrawn(EX2, "g1", [coin("c1", "KUDOS:5")]))
      .when(decideDeleteExchange, { url: EX, purge: false })
      .then([deleted(EX)]);
  });
});

describe("exchange merge rules, as the deciders see them", () => {
  it("a delete that did not see a concurrent withdrawal leaves the exchange used, with its coins (add-wins)", () => {
    const g = given(
      added(EX), //                                                  A:1
      by("B", withdrawn(EX, "g1", [coin("c1", "KUDOS:5")]), { A: 1 }), // B:1, concurrent with the delete
      by("A", deleted(EX), {}), //                                    A:2 saw only A:1
    );
    expect(entryOf(g.records, EX)).toBe("used");
    expect(getResources(g.records, EX)).toEqual({ hasResources: true, coins: 1, withdrawalGroups: 0 });
    g.when(decideDeleteExchange, { url: EX, purge: false }).refused("exchange-has-resources");
  });

  it("a delete that saw the withdrawal and purged removes the exchange", () => {
    const g = given(added(EX), withdrawn(EX, "g1", [coin("c1", "KUDOS:5")]), purged(EX));
    expect(entryOf(g.records, EX)).toBeUndefined();
    g.when(decideDeleteExchange, { url: EX, purge: true }).refused("exchange-unknown");
  });

  it("a delete concurrent with an add on another device leaves the exchange there", () => {
    const g = given(added(EX), by("B", added(EX), { A: 1 }), by("A", deleted(EX), {}));
    expect(entryOf(g.records, EX)).toBe("ephemeral");
    g.when(decideAddExchange, { url: EX, preset: false }).thenNothing();
  });

  it("a preset lifted by an explicit add becomes ephemeral", () => {
    const g = given(addedPreset(EX), added(EX));
    expect(entryOf(g.records, EX)).toBe("ephemeral");
    g.when(decideAddExchange, { url: EX, preset: false }).thenNothing();
  });

  it("a preset offered again on another device after an explicit add stays ephemeral", () => {
    const g = given(addedPreset(EX), added(EX), by("B", addedPreset(EX), { A: 1 }));
    expect(entryOf(g.records, EX)).toBe("ephemeral");
  });

  it("used is absorbing: later adds, presets and /keys leave a used exchange used", () => {
    const g = given(
      added(EX),
      withdrawn(EX, "g1", [coin("c1", "KUDOS:1")]),
      by("B", addedPreset(EX)),
      by("C", added(EX)),
      keysFetched(EX),
    );
    expect(entryOf(g.records, EX)).toBe("used");
  });

  it("a used exchange whose coins are spent stays used", () => {
    const g = given(added(EX), withdrawn(EX, "g1", [coin("c1", "KUDOS:1")]), spent("c1", "KUDOS:1", "s1"));
    expect(entryOf(g.records, EX)).toBe("used");
  });

  it("concurrent ToS acceptances: the higher lamport wins, whatever the arrival order", () => {
    const offer = tosOffered(EX, "v0"); //                          A:2, lamport 2
    const a = by("A", tosAccepted(EX, "from-A"), {}); //              A:3, lamport 3
    const b = by("B", tosAccepted(EX, "from-B"), { A: 1 }); //        B:1, lamport 2, concurrent
    for (const g of [given(added(EX), offer, a, b), given(added(EX), offer, b, a)]) {
      expect(acceptedOf(g.records, EX)).toBe("from-A");
    }
  });

  it("concurrent ToS acceptances with equal lamports: the larger device id wins, whatever the arrival order", () => {
    for (const order of [0, 1]) {
      const a = by("A", tosAccepted(EX, "from-A"), {});
      const b = by("B", tosAccepted(EX, "from-B"), { A: 1 });
      const g = order === 0 ? given(added(EX), a, b) : given(added(EX), b, a);
      expect(acceptedOf(g.records, EX), `order ${order}`).toBe("from-B");
      g.when(decideSetTosAccepted, { url: EX, etag: "from-B" }).thenNothing();
      g.when(decideSetTosAccepted, { url: EX, etag: "from-A" }).then([tosAccepted(EX, "from-A")]);
    }
  });

  it("an acceptance that saw the other device's acceptance wins over it", () => {
    const g = given(added(EX), by("B", tosAccepted(EX, "from-B")), by("A", tosAccepted(EX, "from-A")));
    expect(acceptedOf(g.records, EX)).toBe("from-A");
  });

  it("a forget concurrent with an acceptance is ordered by (lamport, device) like any write", () => {
    const g = given(added(EX), tosAccepted(EX, "v1"), by("B", tosForgotten(EX), { A: 2 }), by("A", tosAccepted(EX, "v2"), {}));
    // B:1 and A:3 both have lamport 3; B is the larger device id.
    expect(acceptedOf(g.records, EX)).toBeUndefined();
    g.when(decideSetTosForgotten, { url: EX }).thenNothing();
  });

  it("a delete removes the acceptances it saw; a concurrent one of another device survives a re-add", () => {
    const g = given(
      added(EX), //                                  A:1
      tosAccepted(EX, "v1"), //                      A:2
      by("B", tosAccepted(EX, "v2")), //              B:1 saw A:1, A:2
      by("A", deleted(EX), {}), //                    A:3 did not see B:1
      added(EX), //                                  A:4
    );
    expect(acceptedOf(g.records, EX)).toBe("v2");
    g.when(decideSetTosAccepted, { url: EX, etag: "v2" }).thenNothing();
  });

  it("a delete that saw every acceptance leaves none after a re-add", () => {
    const g = given(added(EX), tosAccepted(EX, "v1"), by("B", tosAccepted(EX, "v2")), deleted(EX), added(EX));
    expect(acceptedOf(g.records, EX)).toBeUndefined();
  });

  it("concurrent suspend and unsuspend: the later (lamport, device) decides", () => {
    const g = given(added(EX), by("A", suspended(EX), {}), by("B", unsuspended(EX), { A: 1 }));
    expect(isSuspended(getExchangeRecord(g.records, EX)!)).toBe(false);
    g.when(decideSetSuspended, { url: EX, suspended: false }).thenNothing();
  });
});
