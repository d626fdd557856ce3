// The settings that shape printed documents: the seller block of invoice and credit-memo PDFs.
import { z } from "zod";
import { ValidationError } from "../errors.ts";
import { parseInput, type InputOf } from "../validation.ts";
import { decodeLogo, MAX_LOGO_BYTES } from "./logo.ts";

// Control characters other than line breaks would print as boxes (or hide text) on a PDF.
const printable = (max: number, lines: number) =>
  z
    .string()
    .max(max, `at most ${max} characters`)
    .refine((v) => !/[\u0000-\u0009\u000B-\u001F\u007F]/.test(v), "must not contain control characters")
    .refine((v) => v.split("\n").length <= lines, `at most ${lines} lines`)
    .transform((v) => v.replace(/\r/g, "").trim());

const settingsUpdate = z.object({
  advancedArSettlement: z.boolean().optional(),
  companyName: printable(200, 1).optional(),
  companyAddress: printable(1000, 10).optional(),
  companyTaxId: printable(100, 1).optional(),
  companyLogo: z
    .string()
    .max(Math.ceil(MAX_LOGO_BYTES / 3) * 4 + 100, `must be at most ${MAX_LOGO_BYTES / 1024} KiB`)
    .superRefine((value, ctx) => {
      try {
        decodeLogo(value);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
      }
    })
    .optional(),
});

export type SettingsUpdate = z.output<typeof settingsUpdate>;
/** updateSettings' input: the fields to change. */
export type SettingsUpdateInput = InputOf<typeof settingsUpdate>;

/**
 * The fields of an `updateSettings` input to write (absent or null fields are left alone).
 * Throws ValidationError naming the field for a bad value, or `input` when nothing is given.
 */
export function parseSettingsUpdate(input: SettingsUpdateInput): SettingsUpdate {
  const data = parseInput(settingsUpdate, input);
  const given = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) as SettingsUpdate;
  if (Object.keys(given).length === 0) throw new ValidationError("input: nothing to update", ["input"]);
  return given;
}
