/** Where a device keeps its tokens, so a reloaded page or a restarted app continues the same customer and session. */

/** What a device holds: the customer token to resume the customer, the session token to act as this device. */
export interface Credentials {
  customerId?: string;
  /** Resumes the customer on this or another device; an agent's session has none. */
  customerToken?: string;
  sessionId?: string;
  /** Sent as `Authorization: Bearer` and in the stream's hello; replaced in-band by the live stream's refresh. */
  sessionToken?: string;
}

/** Pluggable storage for Credentials (localStorage, a keychain, React Native's AsyncStorage ...). */
export interface TokenStore {
  load(): Credentials | undefined | Promise<Credentials | undefined>;
  save(credentials: Credentials): void | Promise<void>;
}

/** Forgets everything when the page or process ends; the default, for tests and short-lived tools. */
export class MemoryStore implements TokenStore {
  private credentials: Credentials = {};

  load(): Credentials {
    return { ...this.credentials };
  }

  save(credentials: Credentials): void {
    this.credentials = { ...credentials };
  }
}

/** The part of the Web Storage API a store uses (window.localStorage, or a stand-in). */
export type StorageLike = Pick<Storage, "getItem" | "setItem">;

/** Credentials as JSON under one key of localStorage: a reloaded tab resumes its session. */
export class LocalStorageStore implements TokenStore {
  constructor(
    /** The localStorage key. Default: "omnicart.credentials". */
    readonly key = "omnicart.credentials",
    private readonly storage: StorageLike = globalThis.localStorage,
  ) {}

  load(): Credentials | undefined {
    const saved = this.storage.getItem(this.key);
    if (saved === null) return undefined;
    try {
      return JSON.parse(saved) as Credentials;
    } catch {
      return undefined; // damaged by hand or by another app: start afresh rather than fail
    }
  }

  save(credentials: Credentials): void {
    this.storage.setItem(this.key, JSON.stringify(credentials));
  }
}
