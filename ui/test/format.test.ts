/** The Dynamics address the panel accepts: what the configuration file accepts. */
import { describe, expect, it } from "vitest";
import { dynamicsUrlError } from "../src/format";

describe("dynamics address", () => {
  it("https_org_addresses_are_accepted", () => {
    expect(dynamicsUrlError("https://contoso.crm.dynamics.com")).toBeNull();
    expect(dynamicsUrlError("  https://contoso.crm4.dynamics.com/  ")).toBeNull();
  });

  it("http_only_on_this_machine", () => {
    expect(dynamicsUrlError("http://127.0.0.1:8080")).toBeNull();
    expect(dynamicsUrlError("http://localhost:5555")).toBeNull();
    expect(dynamicsUrlError("http://[::1]:5555")).toBeNull();
    expect(dynamicsUrlError("http://contoso.crm.dynamics.com")).toBe("The address must start with https://");
    expect(dynamicsUrlError("ftp://127.0.0.1")).toBe("The address must start with https://");
  });

  it("bad_addresses_say_what_is_wrong", () => {
    expect(dynamicsUrlError("")).toMatch(/^Enter your Dynamics 365 address/);
    expect(dynamicsUrlError("contoso")).toMatch(/^This is not a web address/);
    expect(dynamicsUrlError("https://contoso")).toMatch(/needs a host name/);
    expect(dynamicsUrlError("https://me:pw@contoso.crm.dynamics.com")).toMatch(/user name or password/);
  });
});
