import type { DescMethod } from "@bufbuild/protobuf";

/** One row of a generated route table (gen/…/*_routes.ts). */
export interface RouteBinding {
  readonly verb: string;
  readonly pattern: string;
  readonly body: string;
  readonly method: DescMethod;
}

interface CompiledRoute {
  binding: RouteBinding;
  regex: RegExp;
  /** Path variables in order, as proto field names. */
  variables: string[];
}

/** Compiles "/a/{payment_id}" into a regex; only whole-segment variables are supported. */
function compile(binding: RouteBinding): CompiledRoute {
  const variables: string[] = [];
  const source = binding.pattern
    .split("/")
    .map((segment) => {
      const m = /^\{([a-z_][a-z0-9_]*)(=\*)?\}$/.exec(segment);
      if (m?.[1]) {
        if (!binding.method.input.fields.some((f) => f.name === m[1]))
          throw new Error(`route ${binding.pattern}: ${binding.method.input.typeName} has no field ${m[1]}`);
        variables.push(m[1]);
        return "([^/]+)";
      }
      if (/[{}*]/.test(segment)) throw new Error(`route ${binding.pattern}: unsupported path template segment ${segment}`);
      return segment.replace(/[.+?^$()[\]\\|]/g, "\\$&");
    })
    .join("/");
  return { binding, regex: new RegExp(`^${source}/?$`), variables };
}

/** A request's route: the binding and its path variables (still percent-encoded), or the verbs allowed. */
export type RouteMatch = { binding: RouteBinding; params: Map<string, string> } | { allow: string[] };

export function createRouteTable(routes: readonly RouteBinding[]) {
  const compiled = routes.map(compile);
  return {
    /** The route of a path and verb; undefined when the path is not ours. */
    match(path: string, verb: string): RouteMatch | undefined {
      const matches = compiled.map((r) => ({ r, m: r.regex.exec(path) })).filter((x) => x.m !== null);
      if (matches.length === 0) return undefined;
      const hit = matches.find((x) => x.r.binding.verb === verb);
      if (!hit?.m) return { allow: [...new Set(matches.map((x) => x.r.binding.verb))] };
      return { binding: hit.r.binding, params: new Map(hit.r.variables.map((name, i) => [name, hit.m?.[i + 1] ?? ""])) };
    },
    /** The route pattern a path matches, as a bounded metrics label. */
    label(path: string): string | undefined {
      const hit = compiled.find((r) => r.regex.test(path));
      return hit ? `${hit.binding.verb} ${hit.binding.pattern}` : undefined;
    },
  };
}
