/**
 * The namespaces of a client (`client.cart`, `client.sessions`, `client.handoff`, `client.transactions`), as
 * sdk_python's _resources.py: each method only builds its Call (calls.ts) and hands it to the client to run.
 */
import * as calls from "./calls.js";
import type { Call } from "./http.js";
import type {
  Cart,
  CartOp,
  DeviceSession,
  HandoffOffer,
  SessionCreated,
  Transaction,
  TransactionList,
} from "./protocol.js";

/** Runs a call with the client's credentials and retries. */
export type RunCall = <T>(call: Call<T>) => Promise<T>;

export interface WriteOptions {
  /** Refuse with ConflictError (409 version_conflict) unless the cart is at this version. */
  expectedVersion?: number;
}

export interface StepOptions extends WriteOptions {
  /** The state to move to; without it only `data` is updated. */
  to?: string;
  /** Fields to set; each kind says which a state requires. Default: {}. */
  data?: Record<string, unknown>;
}

/** The customer's cart; every method answers the cart as the server holds it after the call. */
export class CartApi {
  constructor(private readonly run: RunCall) {}

  get(): Promise<Cart> {
    return this.run(calls.getCart());
  }

  /** Add `qty` of a SKU (a SKU already in the cart raises its line); the price comes from the catalog. */
  add(sku: string, qty = 1, options: WriteOptions = {}): Promise<Cart> {
    return this.apply([{ op: "add_item", sku, qty }], options);
  }

  setQuantity(lineId: string, qty: number, options: WriteOptions = {}): Promise<Cart> {
    return this.apply([{ op: "set_quantity", line_id: lineId, qty }], options);
  }

  remove(lineId: string, options: WriteOptions = {}): Promise<Cart> {
    return this.apply([{ op: "remove_item", line_id: lineId }], options);
  }

  clear(options: WriteOptions = {}): Promise<Cart> {
    return this.apply([{ op: "clear" }], options);
  }

  /** Several ops as one atomic batch: all of them apply, or none. */
  apply(ops: CartOp[], options: WriteOptions = {}): Promise<Cart> {
    return this.run(calls.cartOps(ops, options.expectedVersion));
  }

  /** Agents only: override a line's price, with the reason written to the customer's log. */
  setPrice(lineId: string, unitPrice: number, reason: string): Promise<Cart> {
    return this.apply([{ op: "set_price", line_id: lineId, unit_price: unitPrice, reason }]);
  }
}

/** The customer's devices. */
export class SessionsApi {
  constructor(private readonly run: RunCall) {}

  list(): Promise<DeviceSession[]> {
    return this.run(calls.listSessions());
  }

  /** Revoke a device: its token stops working at once. */
  revoke(sessionId: string): Promise<void> {
    return this.run(calls.revokeSession(sessionId));
  }
}

/** Moving the customer to another device by a short code or its QR. */
export class HandoffApi {
  constructor(
    private readonly run: RunCall,
    private readonly device: () => { channel: string; device: string },
    private readonly adopt: (created: SessionCreated) => Promise<void>,
  ) {}

  /** A single-use code (and QR) for another device to continue as this customer. */
  create(): Promise<HandoffOffer> {
    return this.run(calls.offerHandoff());
  }

  /** Make this device continue as the customer who offered `code` (its credentials go to the token store). */
  async claim(code: string): Promise<void> {
    const { channel, device } = this.device();
    await this.adopt(await this.run(calls.claimHandoff(code, channel, device)));
  }
}

/** Resumable transactions (checkout, booking, return, support_case) any of the customer's devices can drive. */
export class TransactionsApi {
  constructor(private readonly run: RunCall) {}

  start(kind: string, data: Record<string, unknown> = {}): Promise<Transaction> {
    return this.run(calls.startTransaction(kind, data));
  }

  get(transactionId: string): Promise<Transaction> {
    return this.run(calls.getTransaction(transactionId));
  }

  list(): Promise<TransactionList> {
    return this.run(calls.listTransactions());
  }

  /** As the driving device: update fields and/or move state; a retry carries the same Idempotency-Key. */
  step(transactionId: string, options: StepOptions = {}): Promise<Transaction> {
    return this.run(calls.stepTransaction(transactionId, options.to, options.data ?? {}, options.expectedVersion));
  }

  /** Drive it from this device; the previous driver sees `transaction.taken_over` live. */
  takeOver(transactionId: string): Promise<Transaction> {
    return this.run(calls.takeOverTransaction(transactionId));
  }
}
