/** Forgets the queue with the page or process: for Node apps without a disk and for tests. */
export class MemoryQueueStore {
    saved;
    async load() {
        return this.saved === undefined ? undefined : JSON.parse(this.saved);
    }
    async save(contents) {
        this.saved = JSON.stringify(contents); // a copy, as a real store keeps: later changes to the objects stay out
    }
}
/** The queue as JSON under one localStorage key (about 5 MB per origin: thousands of writes). */
export class LocalStorageQueueStore {
    key;
    storage;
    constructor(
    /** The localStorage key. Default: "omnicart.offline-queue". */
    key = "omnicart.offline-queue", storage = globalThis.localStorage) {
        this.key = key;
        this.storage = storage;
    }
    async load() {
        const saved = this.storage.getItem(this.key);
        return saved === null ? undefined : JSON.parse(saved);
    }
    async save(contents) {
        this.storage.setItem(this.key, JSON.stringify(contents));
    }
}
const OBJECT_STORE = "queue";
const QUEUE_KEY = "contents";
/** The queue in an IndexedDB database, written with strict durability where the browser offers it. */
export class IndexedDbQueueStore {
    name;
    factory;
    database;
    constructor(
    /** The database name. Default: "omnicart-offline". */
    name = "omnicart-offline", factory = globalThis.indexedDB) {
        this.name = name;
        this.factory = factory;
    }
    async load() {
        const transaction = (await this.open()).transaction(OBJECT_STORE, "readonly");
        return (await requestResult(transaction.objectStore(OBJECT_STORE).get(QUEUE_KEY)));
    }
    async save(contents) {
        const transaction = (await this.open()).transaction(OBJECT_STORE, "readwrite", { durability: "strict" });
        transaction.objectStore(OBJECT_STORE).put(contents, QUEUE_KEY);
        await new Promise((resolve, reject) => {
            transaction.oncomplete = () => resolve();
            transaction.onabort = transaction.onerror = () => reject(transaction.error);
        });
    }
    /** Close the database (another tab may then upgrade it). */
    async close() {
        if (this.database !== undefined)
            (await this.database).close();
        this.database = undefined;
    }
    open() {
        this.database ??= new Promise((resolve, reject) => {
            const request = this.factory.open(this.name, 1);
            request.onupgradeneeded = () => request.result.createObjectStore(OBJECT_STORE);
            request.onsuccess = () => resolve(request.result);
            request.onerror = () => reject(request.error);
        });
        return this.database;
    }
}
function requestResult(request) {
    return new Promise((resolve, reject) => {
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
}
/** IndexedDB in browsers, localStorage where only it exists, memory elsewhere. */
export function defaultQueueStore() {
    if (typeof globalThis.indexedDB !== "undefined")
        return new IndexedDbQueueStore();
    if (typeof window !== "undefined" && typeof window.localStorage !== "undefined")
        return new LocalStorageQueueStore();
    return new MemoryQueueStore();
}
