// `wallet-engine exchanges …`: the DD 48 exchange requests, one command each.
import type { ExchangeTos } from "../ops/exchanges.ts";
import type { ExchangeListItem } from "../projections/exchanges.ts";
import type { ExchangeResources } from "../projections/resources.ts";
import type { Command, CommandContext } from "./command.ts";
import { fields, status, table, type Style } from "./format.ts";

const url = [{ name: "URL" }];

function entryFields(style: Style, x: ExchangeListItem, resources?: ExchangeResources): string {
  return fields(style, [
    ["exchange", x.exchangeBaseUrl],
    ["currency", x.currency],
    ["master key", x.masterPub],
    ["entry", status(x.exchangeEntryStatus)],
    ["update", status(x.exchangeUpdateStatus)],
    ["terms", status(x.tosStatus)],
    ["last error", x.lastUpdateErrorInfo && { text: `${x.lastUpdateErrorInfo.code}: ${x.lastUpdateErrorInfo.message}`, colour: "red" }],
    ["coins", resources && String(resources.coins)],
    ["withdrawals", resources && `${resources.withdrawalGroups} pending`],
  ]);
}

async function entry(cx: CommandContext, exchangeBaseUrl: string): Promise<ExchangeListItem> {
  return (await cx.request("getExchangeEntryByUrl", { exchangeBaseUrl })) as ExchangeListItem;
}

/** Runs a request on one exchange, then prints the entry as it is afterwards. */
function entryCommand(
  word: string,
  summary: string,
  act: (cx: CommandContext, exchangeBaseUrl: string) => Promise<unknown>,
  extra: Partial<Command> = {},
): Command {
  return {
    words: ["exchanges", word],
    summary,
    args: url,
    options: {},
    wallet: "existing",
    ...extra,
    async run(cx) {
      await act(cx, cx.args[0]);
      const x = await entry(cx, cx.args[0]);
      cx.print(x, () => entryFields(cx.style, x));
    },
  };
}

export const exchangeCommands: Command[] = [
  entryCommand(
    "add",
    "add an exchange (ephemeral until used; --preset for a preset entry)",
    (cx, exchangeBaseUrl) => cx.request("addExchange", { exchangeBaseUrl, preset: cx.opts.preset === true }),
    { wallet: "create", options: { preset: { type: "boolean", help: "add it as a preset entry" } } },
  ),
  {
    words: ["exchanges", "list"],
    summary: "list the exchanges with their entry, update and terms status",
    args: [],
    options: { status: { type: "string", value: "STATUS", help: "only entries of this status: preset, ephemeral or used" } },
    wallet: "existing",
    async run(cx) {
      const payload = cx.opts.status === undefined ? undefined : { filterByExchangeEntryStatus: cx.opts.status };
      const res = (await cx.request("listExchanges", payload)) as { exchanges: ExchangeListItem[] };
      cx.print(res, () =>
        res.exchanges.length === 0
          ? "no exchanges"
          : table(
              cx.style,
              ["EXCHANGE", "CURRENCY", "ENTRY", "UPDATE", "TERMS", "LAST ERROR"],
              res.exchanges.map((x) => [
                x.exchangeBaseUrl,
                x.currency ?? "-",
                status(x.exchangeEntryStatus),
                status(x.exchangeUpdateStatus),
                status(x.tosStatus),
                x.lastUpdateErrorInfo ? { text: x.lastUpdateErrorInfo.code, colour: "red" } : "",
              ]),
            ),
      );
    },
  },
  {
    words: ["exchanges", "show"],
    summary: "show one exchange, with the coins and pending withdrawals it holds",
    args: url,
    options: {},
    wallet: "existing",
    async run(cx) {
      const x = await entry(cx, cx.args[0]);
      const resources = (await cx.request("getExchangeResources", { exchangeBaseUrl: cx.args[0] })) as ExchangeResources;
      cx.print({ exchange: x, resources }, () => entryFields(cx.style, x, resources));
    },
  },
  {
    words: ["exchanges", "update"],
    summary: "fetch /keys and /terms from the exchange and record the outcome",
    description: "A failed update is recorded, not refused: the entry shows unavailable-update and the error.",
    args: url,
    options: { force: { type: "boolean", help: "fetch again even when the exchange says nothing changed" } },
    wallet: "existing",
    async run(cx) {
      const x = (await cx.request("updateExchange", { exchangeBaseUrl: cx.args[0], force: cx.opts.force === true })) as ExchangeListItem;
      cx.print(x, () => entryFields(cx.style, x));
    },
  },
  {
    words: ["exchanges", "tos"],
    summary: "download and print the exchange's terms of service",
    args: url,
    options: {
      language: { type: "string", value: "LANG", help: "preferred language, e.g. de (repeatable)", multiple: true },
      format: { type: "string", value: "MIME", help: "preferred format, e.g. text/markdown (repeatable)", multiple: true },
    },
    wallet: "existing",
    async run(cx) {
      const req: Record<string, unknown> = { exchangeBaseUrl: cx.args[0] };
      if (cx.opts.language) req.acceptLanguage = cx.opts.language;
      if (cx.opts.format) req.acceptFormat = cx.opts.format;
      const tos = (await cx.request("getExchangeTos", req)) as ExchangeTos;
      cx.print(tos, () =>
        [
          fields(cx.style, [
            ["terms", status(tos.tosStatus)],
            ["version", tos.currentEtag],
            ["accepted", tos.acceptedEtag],
            ["format", tos.contentType],
            ["language", tos.contentLanguage],
            ["languages", tos.tosAvailableLanguages.join(", ")],
          ]),
          "",
          tos.content.trimEnd(),
        ].join("\n"),
      );
    },
  },
  entryCommand(
    "accept-tos",
    "accept the exchange's terms (the version on offer now, or --etag)",
    async (cx, exchangeBaseUrl) => {
      let etag = cx.opts.etag as string | undefined;
      if (etag === undefined) etag = ((await cx.request("getExchangeTos", { exchangeBaseUrl })) as ExchangeTos).currentEtag;
      await cx.request("setExchangeTosAccepted", { exchangeBaseUrl, etag });
    },
    {
      description: "Without --etag the terms are downloaded first, and the version they carry now is accepted.",
      options: { etag: { type: "string", value: "ETAG", help: "accept this version of the terms without downloading them" } },
    },
  ),
  entryCommand("suspend", "suspend the exchange: it is not contacted until unsuspended", (cx, exchangeBaseUrl) =>
    cx.request("setExchangeSuspended", { exchangeBaseUrl, suspended: true }),
  ),
  entryCommand("unsuspend", "let the exchange be contacted again", (cx, exchangeBaseUrl) =>
    cx.request("setExchangeSuspended", { exchangeBaseUrl, suspended: false }),
  ),
  {
    words: ["exchanges", "delete"],
    summary: "delete the exchange (refused while it holds coins, unless --purge)",
    args: url,
    options: { purge: { type: "boolean", help: "delete its coins and pending withdrawals with it" } },
    wallet: "existing",
    async run(cx) {
      const purge = cx.opts.purge === true;
      await cx.request("deleteExchange", { exchangeBaseUrl: cx.args[0], purge });
      cx.print({ deleted: cx.args[0], purge }, () => `deleted ${cx.args[0]}${purge ? " with its coins (purge)" : ""}`);
    },
  },
];
