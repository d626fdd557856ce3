import type { Db } from "../db/client.ts";
import type { User } from "../generated/prisma/client.ts";
import type { App } from "../app.ts";

export interface Context {
  app: App;
  db: Db;
  /** Null when the request carried no valid token. */
  user: User | null;
  requestId: string;
  /** Over WebSockets: closes this client's connection (a subscriber that cannot keep up). */
  closeConnection?: (code: number, reason: string) => void;
}
