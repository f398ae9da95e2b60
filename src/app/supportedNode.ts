/**
 * The Node.js release lines the service is tested on (.ci/run runs the suite on 24 and the
 * start, stop and unit tests on the others) and supports; package.json's engines say the same.
 */
export const supportedNodeMajors = [22, 24, 26] as const;

/** A warning for a Node.js outside those lines (it may run, but nothing is tested there). */
export function unsupportedNodeWarning(version: string = process.versions.node): string | undefined {
  const major = Number(version.split(".")[0]);
  if ((supportedNodeMajors as readonly number[]).includes(major)) return undefined;
  return `Node.js ${version} is not supported: use Node.js ${supportedNodeMajors.slice(0, -1).join(", ")} or ${supportedNodeMajors.at(-1)} (the lines it is tested on)`;
}
