import { builder } from "../builder.ts";
import { AppError, ConflictError, InvalidStateError, NotFoundError, ValidationError } from "../../errors.ts";

export const ErrorCodeEnum = builder.enumType("ErrorCode", {
  values: ["NOT_FOUND", "INVALID_STATE", "VALIDATION", "CONFLICT"] as const,
});

export const ErrorInterface = builder.interfaceRef<AppError>("Error").implement({
  description: "An error the caller can act on, returned in the data of a mutation's result.",
  fields: (t) => ({
    code: t.field({ type: ErrorCodeEnum, resolve: (e) => e.code }),
    message: t.exposeString("message"),
  }),
});

builder.objectType(ValidationError, {
  name: "ValidationError",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof ValidationError,
  fields: (t) => ({
    field: t.exposeStringList("field", { nullable: true, description: "Path of the offending input field." }),
  }),
});

for (const [ErrorClass, name] of [
  [NotFoundError, "NotFoundError"],
  [InvalidStateError, "InvalidStateError"],
  [ConflictError, "ConflictError"],
] as const) {
  builder.objectType(ErrorClass, {
    name,
    interfaces: [ErrorInterface],
    isTypeOf: (e) => e instanceof ErrorClass,
    fields: () => ({}),
  });
}
