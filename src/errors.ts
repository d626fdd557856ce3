/**
 * Errors a caller can act on. Resolvers let them propagate; the GraphQL errors plugin turns
 * them into members of the mutation's result union. Anything else is masked.
 */
export type ErrorCode = "NOT_FOUND" | "INVALID_STATE" | "VALIDATION" | "CONFLICT";

export class AppError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super("NOT_FOUND", message);
  }
}

export class InvalidStateError extends AppError {
  constructor(message: string) {
    super("INVALID_STATE", message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super("CONFLICT", message);
  }
}

export class ValidationError extends AppError {
  /** Path of the offending input field, e.g. ["input", "charges", "0", "price"]. */
  readonly field: string[];
  constructor(message: string, field: (string | number)[] = []) {
    super("VALIDATION", message);
    this.field = field.map(String);
  }
}

/** Turns a unique-constraint violation (two concurrent creates of the same key) into a CONFLICT. */
export async function conflictOnDuplicate<T>(work: Promise<T>, message: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if ((error as { code?: unknown })?.code === "P2002") throw new ConflictError(message);
    throw error;
  }
}
