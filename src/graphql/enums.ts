/**
 * GraphQL enum values from a Prisma enum object (src/generated/prisma/enums.ts), in its order, with
 * a description for some of them: `builder.enumType(name, { values: describedValues(X, {...}) })`.
 * The schema's enums and the database's are then one list.
 */
export function describedValues<const E extends Record<string, string>>(
  prismaEnum: E,
  descriptions: Partial<Record<E[keyof E], string>>,
): Record<E[keyof E], { description?: string }> {
  const values = {} as Record<E[keyof E], { description?: string }>;
  for (const value of Object.values(prismaEnum) as E[keyof E][]) {
    const description = descriptions[value];
    values[value] = description === undefined ? {} : { description };
  }
  return values;
}
