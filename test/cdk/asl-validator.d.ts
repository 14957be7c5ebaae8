// asl-validator 4 ships no types; this is the part the tests call.
declare module 'asl-validator' {
  interface ValidationResult {
    readonly isValid: boolean;
    readonly errors: readonly { readonly 'Error code': string; readonly Message: string }[];
    errorsText(separator?: string): string;
  }
  /** Validates an Amazon States Language definition. */
  export default function aslValidator(definition: unknown): ValidationResult;
}
