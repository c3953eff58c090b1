// A real `omnicart serve --dev` process for the tests: a free 127.0.0.1 port, a SQLite file in a temp folder,
// /health polled until it answers; `stop()` and `start()` again keep the port and the database.
//
// The binary is $OMNICART_BIN, else ../.venv/bin/omnicart (the repository's virtualenv), else `omnicart` on PATH.
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const HOST = "127.0.0.1";
const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The `omnicart` executable the tests run. */
export function omnicartBin() {
  if (process.env.OMNICART_BIN) return process.env.OMNICART_BIN;
  const venv = resolve(packageRoot, "../.venv/bin/omnicart");
  return existsSync(venv) ? venv : "omnicart";
}

/** A TCP port nobody listens on right now (the OS picks it). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, HOST, () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

/** This process's environment without any OMNICART_* setting: a server sees only what a test sets. */
function serverEnvironment(extra) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("OMNICART_")));
  return { ...env, PYTHONUNBUFFERED: "1", ...extra };
}

/** One `omnicart serve --dev` process on its own database; stop and start it again on the same port and file. */
export class ServerProcess {
  /** @param {{ env?: Record<string, string> }} options OMNICART_* settings for the server. */
  constructor({ env = {} } = {}) {
    this.folder = mkdtempSync(join(tmpdir(), "omnicart-sdk-js-"));
    this.dbUrl = `sqlite+aiosqlite:///${join(this.folder, "omnicart.db")}`;
    this.logPath = join(this.folder, "server.log");
    this.env = env;
    this.port = undefined;
    this.child = undefined;
  }

  get url() {
    return `http://${HOST}:${this.port}`;
  }

  /** Start the process and resolve once /health answers 200. */
  async start() {
    if (this.child) throw new Error("server already running");
    this.port ??= await freePort();
    const log = openSync(this.logPath, "a");
    const args = ["serve", "--dev", "--host", HOST, "--port", String(this.port), "--db", this.dbUrl];
    // Its own process group, so stop() reaches anything it starts.
    this.child = spawn(omnicartBin(), args, {
      env: serverEnvironment(this.env),
      stdio: ["ignore", log, log],
      detached: true,
    });
    closeSync(log);
    const exited = new Promise((resolveExit) => this.child.once("exit", (code) => resolveExit(code)));
    this.exited = exited;
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const code = await Promise.race([exited, new Promise((wait) => setTimeout(() => wait(undefined), 50))]);
      if (code !== undefined) {
        this.child = undefined;
        throw new Error(`server exited with ${code} during start-up\n${this.logTail()}`);
      }
      try {
        const response = await fetch(`${this.url}/health`);
        if (response.ok) return this;
      } catch {
        // not listening yet
      }
    }
    await this.stop();
    throw new Error(`server did not answer /health within ${STARTUP_TIMEOUT_MS} ms\n${this.logTail()}`);
  }

  /** Graceful stop (SIGTERM to its group), then SIGKILL if it lingers. */
  async stop() {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid, "SIGTERM");
      const timer = setTimeout(() => process.kill(-child.pid, "SIGKILL"), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
  }

  /** Stop, then forget the temp folder (database and log). */
  async dispose() {
    await this.stop();
    rmSync(this.folder, { recursive: true, force: true });
  }

  /** `omnicart keys create` on this server's database: the new key, shown once. */
  async createApiKey(scope, name = `sdk-js-${scope}`) {
    const args = ["keys", "create", "--name", name, "--scope", scope, "--db", this.dbUrl];
    const { stdout } = await promisify(execFile)(omnicartBin(), args, { env: serverEnvironment(this.env) });
    return stdout.trim().split("\n")[0].trim();
  }

  /** The last lines of the server's output, for failure messages. */
  logTail(lines = 40) {
    const text = existsSync(this.logPath) ? readFileSync(this.logPath, "utf8") : "";
    return `--- ${this.logPath} ---\n${text.split("\n").slice(-lines).join("\n")}`;
  }
}

/** A started server on a fresh database; `dispose()` it when the tests are done. */
export async function startServer(options) {
  return new ServerProcess(options).start();
}
