// A small turntable: a glossy torus and a sphere turning over the animation's clock.
// Written for the render farm's end-to-end tests and the README's first local render.
#version 3.7;
global_settings { assumed_gamma 1.0 }

camera { location <0, 2.2, -5.5> look_at <0, 0.4, 0> angle 45 }
light_source { <-4, 6, -5> color rgb <1.0, 0.96, 0.9> }
light_source { <5, 3, -2> color rgb <0.3, 0.35, 0.45> }
background { color rgb <0.06, 0.07, 0.1> }

plane { y, -0.8 pigment { checker color rgb 0.25 color rgb 0.45 scale 0.8 } }

union {
  torus { 1.1, 0.28 rotate <70, 0, 0> pigment { color rgb <0.85, 0.35, 0.15> }
          finish { specular 0.6 roughness 0.02 reflection 0.1 } }
  sphere { <0, 0, 0>, 0.55 pigment { color rgb <0.2, 0.5, 0.9> } finish { phong 0.8 } }
  rotate <0, clock * 360, 0>
  translate <0, 0.4, 0>
}
