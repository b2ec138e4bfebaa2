// A client journey over the types openapi-typescript generates from
// api/openapi.json (carbonledger.d.ts). check.sh compiles it with
// tsc --strict and never runs it: it proves that an integrator's code
// type-checks against the document, e.g. that points are strings on the
// wire (BigInt, not "+ 1").
import createClient from "openapi-fetch";
import type { components, paths } from "./carbonledger";

type Summary = components["schemas"]["points_Summary"];
type Problem = components["schemas"]["Problem"];

const key = (): string => crypto.randomUUID();

// Points are decimal strings: arithmetic goes through BigInt.
export function pendingPlusOne(me: Summary): bigint {
  const wire: string = me.pending_points; // a number here would not compile
  return BigInt(wire) + 1n;
}

export function describe(p: Problem): string {
  // code is an enum of the stable codes: a switch is exhaustive over it.
  switch (p.code) {
    case "insufficient_balance":
      return "not enough points";
    case "rate_limited":
    case "unavailable":
      return "try again later";
    default:
      return `${p.code}: ${p.detail ?? p.title}`;
  }
}

export async function citizenJourney(baseUrl: string, operatorToken: string, citizenToken: string, citizen: string): Promise<string> {
  const operator = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${operatorToken}` } });
  const me = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${citizenToken}` } });

  // The operator reports a metro trip of an entrusting citizen.
  const report = await operator.POST("/v1/behaviours", {
    params: { header: { "Idempotency-Key": key() } },
    body: {
      records: [{ record_id: "trip-1", citizen, kind: "metro", quantity: "12.5", unit: "km", occurred_at: new Date().toISOString() }],
    },
  });
  if (report.error) throw new Error(describe(report.error));
  const first = report.data.results[0];
  const credited: string = first ? first.points : "0";

  // The citizen reads the account, claims, reads the activity and redeems.
  const summary = await me.GET("/v1/me");
  if (summary.error) throw new Error(describe(summary.error));
  const pending: bigint = pendingPlusOne(summary.data) - 1n;

  const claim = await me.POST("/v1/me/claims", { params: { header: { "Idempotency-Key": key() } }, body: {} });
  if (claim.error) throw new Error(describe(claim.error));
  const claimed: bigint = BigInt(claim.data.claimed_points);

  const activity = await me.GET("/v1/me/activity", { params: { query: { limit: 20 } } });
  if (activity.error) throw new Error(describe(activity.error));
  const lines: string[] = activity.data.items.map((it) => `${it.at} ${it.type} ${it.available_change}`);

  const redeemed = await me.POST("/v1/me/redemptions", { params: { header: { "Idempotency-Key": key() } }, body: { reward: "bus-ticket" } });
  if (redeemed.error) throw new Error(describe(redeemed.error));
  return [credited, pending.toString(), claimed.toString(), ...lines, redeemed.data.points].join("\n");
}

export async function enterpriseJourney(baseUrl: string, sellerToken: string, buyerToken: string, buyer: string): Promise<string> {
  const seller = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${sellerToken}` } });
  const buyerClient = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${buyerToken}` } });

  const holdings = await seller.GET("/v1/holdings", { params: { query: {} } });
  if (holdings.error) throw new Error(describe(holdings.error));
  const units: string = holdings.data.available;

  const offer = await seller.POST("/v1/trades", {
    params: { header: { "Idempotency-Key": key() } },
    body: { buyer, units: "2", price_per_unit: "36.00" },
  });
  if (offer.error) throw new Error(describe(offer.error));
  const accepted = await buyerClient.POST("/v1/trades/{id}/acceptance", {
    params: { path: { id: offer.data.id }, header: { "Idempotency-Key": key() } },
  });
  if (accepted.error) throw new Error(describe(accepted.error));
  const settled: "offered" | "expired" | "settled" | "cancelled" = accepted.data.status;

  const cert = await seller.POST("/v1/retirements", {
    params: { header: { "Idempotency-Key": key() } },
    body: { units: "1", purpose: "voluntary_neutrality", beneficiary: "Jinan Steel" },
  });
  if (cert.error) throw new Error(describe(cert.error));
  return [units, settled, cert.data.id, ...cert.data.serials].join("\n");
}
