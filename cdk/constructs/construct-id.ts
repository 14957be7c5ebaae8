/**
 * `orders_eu-2` -> `OrdersEu2`: a database's name as a construct id (construct ids are PascalCase),
 * stable and readable per database.
 */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * The construct ids of databases, one each: two names that map to one id (`orders_eu`, `orders-eu`)
 * would make one database's constructs collide with the other's.
 */
export class DatabaseConstructIds {
  private readonly names = new Map<string, string>();

  /** The id of `name`; throws, prefixed by `where`, when another database's name maps to it. */
  claim(name: string, where: string): string {
    const id = pascalCase(name);
    const other = this.names.get(id);
    if (other !== undefined && other !== name) {
      throw new Error(
        `${where} "${other}" and "${name}" differ only in "_" or "-" or case of the first letter; rename one`,
      );
    }
    this.names.set(id, name);
    return id;
  }
}
