/**
 * Where an OfflineCart keeps its pending writes and the last server cart, so they survive a reload: IndexedDB in
 * browsers, localStorage where IndexedDB is missing, memory elsewhere (Node, tests). Each save writes the whole
 * queue at once (one IndexedDB transaction, one setItem), so a crash leaves the old queue or the new, never half.
 */
import type { Cart, CartOpsRequest, CatalogItem } from "./protocol.js";
import type { StorageLike } from "./token-stores.js";

/** A write made while offline (or not yet answered), with the key it will always be sent with. */
export interface PendingWrite {
  /** Order of making: writes are sent by ascending id. */
  readonly id: number;
  /** Made once with the write; every send carries it, so the server applies the write once. */
  readonly idempotencyKey: string;
  readonly request: CartOpsRequest;
  /** When it was made (ms since the epoch). */
  readonly madeAt: number;
}

/** Everything an OfflineCart persists. */
export interface QueueContents {
  readonly pending: readonly PendingWrite[];
  readonly nextId: number;
  /** The last cart the server answered: the base the pending writes are shown on. */
  readonly cart: Cart | null;
  /** Catalog items fetched while online: the prices pending adds are shown with. */
  readonly prices: readonly CatalogItem[];
}

/** Pluggable persistence for an OfflineCart. */
export interface QueueStore {
  load(): Promise<QueueContents | undefined>;
  save(contents: QueueContents): Promise<void>;
}

/** Forgets the queue with the page or process: for Node apps without a disk and for tests. */
export class MemoryQueueStore implements QueueStore {
  private saved: string | undefined;

  async load(): Promise<QueueContents | undefined> {
    return this.saved === undefined ? undefined : (JSON.parse(this.saved) as QueueContents);
  }

  async save(contents: QueueContents): Promise<void> {
    this.saved = JSON.stringify(contents); // a copy, as a real store keeps: later changes to the objects stay out
  }
}

/** The queue as JSON under one localStorage key (about 5 MB per origin: thousands of writes). */
export class LocalStorageQueueStore implements QueueStore {
  constructor(
    /** The localStorage key. Default: "omnicart.offline-queue". */
    readonly key = "omnicart.offline-queue",
    private readonly storage: StorageLike = globalThis.localStorage,
  ) {}

  async load(): Promise<QueueContents | undefined> {
    const saved = this.storage.getItem(this.key);
    return saved === null ? undefined : (JSON.parse(saved) as QueueContents);
  }

  async save(contents: QueueContents): Promise<void> {
    this.storage.setItem(this.key, JSON.stringify(contents));
  }
}

const OBJECT_STORE = "queue";
const QUEUE_KEY = "contents";

/** The queue in an IndexedDB database, written with strict durability where the browser offers it. */
export class IndexedDbQueueStore implements QueueStore {
  private database: Promise<IDBDatabase> | undefined;

  constructor(
    /** The database name. Default: "omnicart-offline". */
    readonly name = "omnicart-offline",
    private readonly factory: IDBFactory = globalThis.indexedDB,
  ) {}

  async load(): Promise<QueueContents | undefined> {
    const transaction = (await this.open()).transaction(OBJECT_STORE, "readonly");
    return (await requestResult(transaction.objectStore(OBJECT_STORE).get(QUEUE_KEY))) as QueueContents | undefined;
  }

  async save(contents: QueueContents): Promise<void> {
    const transaction = (await this.open()).transaction(OBJECT_STORE, "readwrite", { durability: "strict" });
    transaction.objectStore(OBJECT_STORE).put(contents, QUEUE_KEY);
    await new Promise<void>((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onabort = transaction.onerror = () => reject(transaction.error);
    });
  }

  /** Close the database (another tab may then upgrade it). */
  async close(): Promise<void> {
    if (this.database !== undefined) (await this.database).close();
    this.database = undefined;
  }

  private open(): Promise<IDBDatabase> {
    this.database ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = this.factory.open(this.name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(OBJECT_STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    return this.database;
  }
}

function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** IndexedDB in browsers, localStorage where only it exists, memory elsewhere. */
export function defaultQueueStore(): QueueStore {
  if (typeof globalThis.indexedDB !== "undefined") return new IndexedDbQueueStore();
  if (typeof window !== "undefined" && typeof window.localStorage !== "undefined") return new LocalStorageQueueStore();
  return new MemoryQueueStore();
}
