import type { Db } from "../db/client.ts";
import type { User } from "../generated/prisma/client.ts";
import type { App } from "../app.ts";
import type { AccessMark } from "../auth/access.ts";

export interface Context {
  app: App;
  db: Db;
  /** Null when the request carried no valid token. */
  user: User | null;
  /** The id of the token that authenticated `user` (open subscriptions are watched by it). */
  tokenId?: string;
  /** Where the security notices stood before the token was read (see AccessWatch.watch). */
  accessMark?: AccessMark;
  requestId: string;
  /** Over WebSockets: closes this client's connection (a subscriber that cannot keep up). */
  closeConnection?: (code: number, reason: string) => void;
}
