import { ScalarType, getOption, hasOption, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { FieldBehavior, field_behavior } from "../../gen/google/api/field_behavior_pb.js";
import { invalidArgument } from "../payments/errors.js";

const requiredCache = new Map<string, Set<string>>();

function requiredFields(desc: DescMessage): Set<string> {
  let set = requiredCache.get(desc.typeName);
  if (!set) {
    set = new Set();
    for (const f of desc.fields) {
      if (hasOption(f, field_behavior) && getOption(f, field_behavior).includes(FieldBehavior.REQUIRED)) set.add(f.name);
    }
    requiredCache.set(desc.typeName, set);
  }
  return set;
}

function check(r: ReflectMessage, path: string): void {
  const required = requiredFields(r.desc);
  for (const f of r.fields) {
    const name = path + f.jsonName;
    const set = f.fieldKind === "scalar" && f.scalar === ScalarType.STRING ? String(r.get(f)).trim() !== "" : r.isSet(f);
    if (!set) {
      if (required.has(f.name)) throw invalidArgument(`${name} is required`);
      continue;
    }
    if (f.fieldKind === "message") check(r.get(f) as ReflectMessage, `${name}.`);
    if (f.fieldKind === "list" && f.listKind === "message") {
      const list = r.get(f);
      for (let i = 0; i < list.size; i++) check(list.get(i) as ReflectMessage, `${name}[${i}].`);
    }
  }
}

/**
 * Enforces google.api.field_behavior = REQUIRED on a decoded request, for every protocol alike.
 * Errors name the field by its JSON path ("paymentMethod.data.cipherText is required").
 */
export function validateRequest(desc: DescMessage, message: Message): void {
  check(reflect(desc, message), "");
}
