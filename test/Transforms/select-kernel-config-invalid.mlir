// RUN: xfc-opt %s -split-input-file -verify-diagnostics -xfa-select-kernel-config
// Problems the configuration cannot serve are reported at the op.

module attributes {xfc.target = "sm_90a"} {
func.func @bad_head_dim(%q: tensor<?x8x?x48xf16>) -> tensor<?x8x?x48xf16> {
  // expected-error @+1 {{head_dim 48 is not supported by the attention templates; supported: 32, 64, 96, 128, 256}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32}
      : tensor<?x8x?x48xf16>, tensor<?x8x?x48xf16>, tensor<?x8x?x48xf16> -> tensor<?x8x?x48xf16>
  return %0 : tensor<?x8x?x48xf16>
}
}

// -----

module attributes {xfc.target = "sm_70"} {
func.func @bad_arch(%q: tensor<?x8x?x64xf16>) -> tensor<?x8x?x64xf16> {
  // expected-error @+1 {{unsupported arch 'sm_70'; supported: sm_80, sm_86, sm_89, sm_90, sm_90a}}
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32}
      : tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16> -> tensor<?x8x?x64xf16>
  return %0 : tensor<?x8x?x64xf16>
}
}

// -----

// expected-error @+1 {{no target architecture}}
module {
func.func @no_target(%q: tensor<?x8x?x64xf16>) -> tensor<?x8x?x64xf16> {
  %0 = xfa.attention %q, %q, %q {mask = #xfa.mask<>, scale = 0.125 : f32}
      : tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16> -> tensor<?x8x?x64xf16>
  return %0 : tensor<?x8x?x64xf16>
}
}
