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
