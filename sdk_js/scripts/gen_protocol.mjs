// Turn schema/protocol.json (msgspec's JSON Schema of omnicart.protocol) into src/protocol.ts.
//
// Usage: node scripts/gen_protocol.mjs [schema.json] [out.ts]   (defaults: schema/protocol.json, src/protocol.ts)
//
// It knows only the JSON Schema msgspec writes (objects, anyOf, $ref, enum, arrays, maps) plus the x- keywords of
// scripts/export_schema.py, and fails on anything else, so a new construct is noticed rather than typed `unknown`.
// Written here rather than taken from npm: the output must follow msgspec's rules (fields a server Struct always
// sends, defaults a client may leave out, enums with their member names), which general generators do not know.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [schemaPath = resolve(root, "schema/protocol.json"), outPath = resolve(root, "src/protocol.ts")] =
  process.argv.slice(2);
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** A JSDoc block at `indent`, or nothing for an empty text. */
function doc(text, indent = "") {
  if (!text) return "";
  const lines = text.replaceAll("*/", "*\\/").split("\n");
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((line) => `${indent} *${line ? ` ${line}` : ""}`).join("\n")}\n${indent} */\n`;
}

/** The TypeScript type of one schema node. */
function typeOf(node, where) {
  if (node.$ref !== undefined) return node.$ref.replace("#/$defs/", "");
  if (node.anyOf !== undefined) return unionOf(node.anyOf.map((member) => typeOf(member, where)));
  if (node.enum !== undefined) return unionOf(node.enum.map((value) => JSON.stringify(value)));
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (Array.isArray(node.type)) return unionOf(node.type.map((type) => typeOf({ ...node, type }, where)));
  switch (node.type) {
    case undefined:
      if (Object.keys(node).every((key) => ["description", "default", "title", "examples"].includes(key))) {
        return "unknown"; // msgspec writes `Any` as a schema without a type
      }
      break;
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array":
      return node.items === undefined ? "unknown[]" : `${parenthesized(typeOf(node.items, where))}[]`;
    case "object":
      if (node.properties === undefined) {
        const values = node.additionalProperties;
        return `Record<string, ${values && values !== true ? typeOf(values, where) : "unknown"}>`;
      }
      break;
  }
  throw new Error(`${where}: no TypeScript type for schema ${JSON.stringify(node)}`);
}

function unionOf(types) {
  return [...new Set(types)].join(" | ");
}

function parenthesized(type) {
  return type.includes(" | ") ? `(${type})` : type;
}

/** An interface: server Structs send every field (msgspec encodes defaults); a client may leave defaulted ones out. */
function interfaceOf(name, node) {
  const direction = node["x-direction"];
  if (direction !== "client" && direction !== "server") throw new Error(`${name}: x-direction is ${direction}`);
  const required = new Set(node.required ?? []);
  const fields = Object.entries(node.properties).map(([field, property]) => {
    const optional = direction === "client" && !required.has(field);
    const key = IDENTIFIER.test(field) ? field : JSON.stringify(field);
    const defaultNote =
      optional && property.default !== undefined ? `Default: ${JSON.stringify(property.default)}.` : "";
    const text = [property.description, defaultNote].filter(Boolean).join(" ");
    return `${doc(text, "  ")}  ${key}${optional ? "?" : ""}: ${typeOf(property, `${name}.${field}`)};\n`;
  });
  const sender = direction === "client" ? "Sent by clients." : "Sent by the server.";
  const comment = doc([node.description, sender].filter(Boolean).join("\n\n"));
  return `${comment}export interface ${name} {\n${fields.join("")}}\n`;
}

/** A named enum: a frozen object of its members (with their docs) and the union type of their values. */
function enumOf(name, node) {
  const names = node["x-enum-varnames"];
  const descriptions = node["x-enum-descriptions"] ?? [];
  const members = node.enum.map(
    (value, index) => `${doc(descriptions[index], "  ")}  ${names[index]}: ${JSON.stringify(value)},\n`,
  );
  return (
    `${doc(node.description)}export const ${name} = {\n${members.join("")}} as const;\n` +
    `export type ${name} = (typeof ${name})[keyof typeof ${name}];\n`
  );
}

function declarationOf(name, node) {
  if (node["x-enum-varnames"] !== undefined) return enumOf(name, node);
  if (node.type === "object" && node.properties !== undefined) return interfaceOf(name, node);
  return `${doc(node.description)}export type ${name} = ${typeOf(node, name)};\n`;
}

const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
const declarations = Object.keys(schema.$defs)
  .sort()
  .map((name) => declarationOf(name, schema.$defs[name]));
const header =
  "// Generated by scripts/gen_protocol.mjs from schema/protocol.json (omnicart.protocol): do not edit.\n" +
  "// After a protocol change run `npm run gen` in sdk_js, then fix what tsc reports.\n";
writeFileSync(outPath, `${header}\n${declarations.join("\n")}`);
