// Where a webhook may be sent. Only https (http when BILLRUN_WEBHOOK_ALLOW_HTTP=true), and never
// to loopback, private, link-local (cloud metadata services live there), shared, multicast or
// reserved addresses unless BILLRUN_WEBHOOK_ALLOW_PRIVATE=true: an endpoint URL is chosen by an
// API user and must not reach the service's own network. The check is made when an endpoint is
// saved and again at each delivery, on the very addresses the connection then uses (the lookup
// below), so a name that resolves elsewhere later (DNS rebinding) is refused too.
import { lookup as dnsLookup } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

export interface AddressPolicy {
  allowHttp: boolean;
  allowPrivate: boolean;
}

const forbidden = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this" network
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT (and some clouds' metadata, 100.100.100.200)
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, 169.254.169.254 metadata
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  forbidden.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96], // NAT64: an IPv4 address in disguise
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001:db8::", 32],
  ["2002::", 16], // 6to4
  ["fc00::", 7], // unique local (fd00:ec2::254 metadata)
  ["fe80::", 10], // link-local
  ["fec0::", 10],
  ["ff00::", 8], // multicast
] as const) {
  forbidden.addSubnet(network, prefix, "ipv6");
}

/** True for an address a webhook may not be sent to (IPv4-mapped IPv6 addresses are judged as their IPv4 address). */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return forbidden.check(address, family === 4 ? "ipv4" : "ipv6");
}

export class AddressRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AddressRefusedError";
  }
}

/** The URL's host without IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

/**
 * Checks an endpoint URL's form: absolute, https (or http when allowed), a host, no user or
 * password. Returns the reason it is refused, or null.
 */
export function urlProblem(raw: string, policy: AddressPolicy): string | null {
  if (raw.length > 2048) return "the URL is longer than 2048 characters";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "not an absolute URL";
  }
  if (url.protocol !== "https:" && !(policy.allowHttp && url.protocol === "http:")) {
    return policy.allowHttp ? "the URL must use https or http" : "the URL must use https (http is allowed only when BILLRUN_WEBHOOK_ALLOW_HTTP=true)";
  }
  if (!url.hostname) return "the URL has no host";
  if (url.username || url.password) return "the URL may not contain a user name or password";
  if (url.hash) return "the URL may not contain a fragment";
  return null;
}

/** Resolves a host name (or takes an IP literal) and returns its addresses; refuses it when any is forbidden by the policy. */
export async function resolveAllowed(host: string, policy: AddressPolicy): Promise<{ address: string; family: number }[]> {
  const addresses = isIP(host)
    ? [{ address: host, family: isIP(host) }]
    : await new Promise<{ address: string; family: number }[]>((resolve, reject) =>
        dnsLookup(host, { all: true }, (error, found) => (error ? reject(error) : resolve(found))),
      );
  if (addresses.length === 0) throw new Error(`${host} has no address`);
  if (!policy.allowPrivate) {
    const bad = addresses.find((a) => isForbiddenAddress(a.address));
    if (bad) {
      throw new AddressRefusedError(
        `${host} resolves to ${bad.address}, a loopback, private, link-local or reserved address (allowed only when BILLRUN_WEBHOOK_ALLOW_PRIVATE=true)`,
      );
    }
  }
  return addresses;
}

/**
 * A `lookup` for http(s).request: the connection goes to the addresses this check accepted, never
 * to a second answer of the DNS.
 */
export function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    resolveAllowed(hostname, policy).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no IPv${options.family} address`), { code: "ENOTFOUND" }), "", 0);
        } else if (options.all) {
          (callback as unknown as (error: null, addresses: { address: string; family: number }[]) => void)(null, wanted);
        } else {
          callback(null, wanted[0]!.address, wanted[0]!.family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  };
}
