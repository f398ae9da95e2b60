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
  /** Literal segments: a path takes the routes with the most (as OpenAPI matches concrete paths first). */
  literals: number;
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
  return { binding, regex: new RegExp(`^${source}/?$`), variables, literals: binding.pattern.split("/").length - variables.length };
}

/** A request's route: the binding and its path variables (still percent-encoded), or the verbs allowed. */
export type RouteMatch = { binding: RouteBinding; params: Map<string, string> } | { allow: string[] };

export function createRouteTable(routes: readonly RouteBinding[]) {
  const compiled = routes.map(compile);
  /** The routes a path matches, most literal segments only: /payments/card is never /payments/{payment_id}. */
  const routesOf = (path: string) => {
    const all = compiled.map((r) => ({ r, m: r.regex.exec(path) })).filter((x) => x.m !== null);
    const most = Math.max(...all.map((x) => x.r.literals));
    return all.filter((x) => x.r.literals === most);
  };
  return {
    /** The route of a path and verb; undefined when the path is not ours. */
    match(path: string, verb: string): RouteMatch | undefined {
      const matches = routesOf(path);
      if (matches.length === 0) return undefined;
      const hit = matches.find((x) => x.r.binding.verb === verb);
      if (!hit?.m) return { allow: [...new Set(matches.map((x) => x.r.binding.verb))] };
      return { binding: hit.r.binding, params: new Map(hit.r.variables.map((name, i) => [name, hit.m?.[i + 1] ?? ""])) };
    },
    /** The route pattern a path matches, as a bounded metrics label. */
    label(path: string): string | undefined {
      const hit = routesOf(path)[0]?.r;
      return hit ? `${hit.binding.verb} ${hit.binding.pattern}` : undefined;
    },
  };
}
