/** Where a device keeps its tokens, so a reloaded page or a restarted app continues the same customer and session. */
/** Forgets everything when the page or process ends; the default, for tests and short-lived tools. */
export class MemoryStore {
    credentials = {};
    load() {
        return { ...this.credentials };
    }
    save(credentials) {
        this.credentials = { ...credentials };
    }
}
/** Credentials as JSON under one key of localStorage: a reloaded tab resumes its session. */
export class LocalStorageStore {
    key;
    storage;
    constructor(
    /** The localStorage key. Default: "omnicart.credentials". */
    key = "omnicart.credentials", storage = globalThis.localStorage) {
        this.key = key;
        this.storage = storage;
    }
    load() {
        const saved = this.storage.getItem(this.key);
        if (saved === null)
            return undefined;
        try {
            return JSON.parse(saved);
        }
        catch {
            return undefined; // damaged by hand or by another app: start afresh rather than fail
        }
    }
    save(credentials) {
        this.storage.setItem(this.key, JSON.stringify(credentials));
    }
}
