import { ScalarType, getOption, hasOption, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { FieldBehavior, field_behavior } from "../../gen/google/api/field_behavior_pb.js";
import { genstore_id } from "../../gen/genstore/payment/v1/options_pb.js";
import { invalidArgument } from "../payments/errors.js";
import { genstoreIdPattern, genstoreIdRule } from "../payments/genstoreIds.js";

interface Rules {
  required: Set<string>;
  /** Fields holding a Genstore id (the genstore_id option). */
  ids: Set<string>;
}

const rulesCache = new Map<string, Rules>();

function rulesOf(desc: DescMessage): Rules {
  let rules = rulesCache.get(desc.typeName);
  if (!rules) {
    rules = { required: new Set(), ids: new Set() };
    for (const f of desc.fields) {
      if (hasOption(f, field_behavior) && getOption(f, field_behavior).includes(FieldBehavior.REQUIRED)) rules.required.add(f.name);
      if (hasOption(f, genstore_id) && getOption(f, genstore_id)) rules.ids.add(f.name);
    }
    rulesCache.set(desc.typeName, rules);
  }
  return rules;
}

function check(r: ReflectMessage, path: string): void {
  const rules = rulesOf(r.desc);
  for (const f of r.fields) {
    const name = path + f.jsonName;
    const set = f.fieldKind === "scalar" && f.scalar === ScalarType.STRING ? String(r.get(f)).trim() !== "" : r.isSet(f);
    if (!set) {
      if (rules.required.has(f.name)) throw invalidArgument(`${name} is required`);
      continue;
    }
    if (rules.ids.has(f.name) && !genstoreIdPattern.test(String(r.get(f)))) throw invalidArgument(`${name} ${genstoreIdRule}`);
    if (f.fieldKind === "message") check(r.get(f) as ReflectMessage, `${name}.`);
    if (f.fieldKind === "list" && f.listKind === "message") {
      const list = r.get(f);
      for (let i = 0; i < list.size; i++) check(list.get(i) as ReflectMessage, `${name}[${i}].`);
    }
  }
}

/**
 * Enforces google.api.field_behavior = REQUIRED and the genstore_id rule on a decoded request,
 * for every protocol alike. Errors name the field by its JSON path ("paymentMethod.data.cipherText
 * is required").
 */
export function validateRequest(desc: DescMessage, message: Message): void {
  check(reflect(desc, message), "");
}
