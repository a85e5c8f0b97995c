// What this wallet knows each device held, from the backups it merged
// (device-local: where the stable frontier comes from, see merge/frontier.ts).
//
//   ["known", device]   { clock, heardAt }   joined over every backup of that device merged here
import { emptyClock, type VectorClock } from "../events/clock.ts";
import type { Projection, Records } from "../events/records.ts";
import { clockFromJson, clockToJson, type ClockJson } from "../merge/registers.ts";
import { learn, type DeviceKnowledge } from "../merge/frontier.ts";
import { assertNever } from "./exchanges.ts";

const knownKey = (device: string) => ["known", device];

export const devicesProjection: Projection = {
  name: "devices",
  tables: {
    known: {
      encode: (k: DeviceKnowledge) => [clockToJson(k.clock), k.heardAt],
      decode: (json: unknown) => {
        const [clock, heardAt] = json as [ClockJson, number];
        return { clock: clockFromJson(clock), heardAt };
      },
      local: true,
    },
  },
  evolveLocal(records, e) {
    switch (e.type) {
      case "device-knowledge-learned": {
        const known = new Map<string, DeviceKnowledge>();
        const had = records.get<DeviceKnowledge>(knownKey(e.data.device));
        if (had) known.set(e.data.device, had);
        const clock: VectorClock = emptyClock();
        for (const d of Object.keys(e.data.clock)) clock[d] = e.data.clock[d];
        learn(known, e.data.device, { clock, heardAt: e.time });
        records.put(knownKey(e.data.device), known.get(e.data.device));
        return;
      }
      case "exchange-update-attempted":
      case "exchange-update-settled":
      case "backup-provider-added":
      case "backup-provider-removed":
      case "wallet-root-key-replaced":
      case "backup-uploaded":
      case "backup-upload-failed":
      case "backup-payment-required":
        return;
      default:
        assertNever(e);
    }
  },
};

/** What merged backups said each device held. */
export function knownDevices(records: Records): Map<string, DeviceKnowledge> {
  const out = new Map<string, DeviceKnowledge>();
  for (const { key, value } of records.entries<DeviceKnowledge>(["known"])) out.set(key[1] as string, value);
  return out;
}
